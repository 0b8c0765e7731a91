"""The local Anthropic endpoint's answers against the published Messages API shapes.

``tests/resources/anthropic/`` holds the excerpt (source, version and licence in its
README.md): the ``Message``, its tool-use content block and ``Usage``, every server-sent
event of a streamed answer (``MessageStreamEvent``), and the error object
(``ErrorResponse``). Our client (``ClaudeModel`` in ``sentiment/llm.py``) streams, so the
stand-in answers with server-sent events: every event of every answer it gives is read raw
and validated, its ``error`` event included (Anthropic's mid-stream ``overloaded_error``),
so a drift in ``connectors/simulated/llm_servers.py`` fails here. (``hang`` and ``drop``
answer nothing complete to validate.)
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from jsonschema import Draft202012Validator

from stocktracker.connectors.simulated.llm_servers import FakeLLMServer
from stocktracker.domain.llm_answer import OPTIONS_TOOL, NonsenseAnswer
from stocktracker.sentiment.llm import ClaudeModel, LLMUnavailable
from stocktracker.streams.core.settings import SentimentSettings
from tests import contract

RESOURCES = Path(__file__).parents[1] / "resources" / "anthropic"
SPEC = json.loads((RESOURCES / "anthropic-messages.schema.json").read_text())
PATH = "/v1/messages"
BULL = "$SPY 600c printing, blowout jobs report, we going to the moon 🚀🚀"
Event = tuple[str, dict[str, Any]]

# Every fault the Anthropic endpoint answers, with its HTTP status.
ANSWERS: dict[str | None, int] = {None: 200, "malformed": 200, "nonsense": 200,
                                  "stream_overloaded": 200, "429": 429, "500": 500, "529": 529}
ERROR_TYPES = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


def validator(name: str) -> Draft202012Validator:
    return contract.validator(SPEC, name)


def check(name: str, instance: Any) -> None:
    contract.check(SPEC, name, instance)


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as s:
        yield s


def claude(server: FakeLLMServer) -> ClaudeModel:
    model = ClaudeModel.from_settings(SentimentSettings(  # type: ignore[call-arg]
        anthropic_api_key="sk-ant-contract", anthropic_base_url=server.url,
        claude_timeout_s=2.0, llm_max_retries=0))
    assert model is not None
    return model


def parse_sse(text: str) -> list[Event]:
    """The ``(event, data)`` pairs of a server-sent-event stream."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            key, _, value = line.partition(":")
            fields[key] = fields.get(key, "") + value.removeprefix(" ")
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def answer(server: FakeLLMServer, fault: str | None) -> tuple[int, dict[str, str], Any]:
    """The raw answer to the streaming request our client sends, with ``fault`` queued:
    the parsed events of a 200, the JSON body of an error."""
    if fault is not None:
        server.faults.append(fault)
    body = {**claude(server).request(BULL, ("SPY",)), "stream": True}
    headers = {"x-api-key": "sk-ant-contract", "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as session, \
            session.post(server.url + PATH, json=body, headers=headers) as response:
        got = {k.lower(): v for k, v in response.headers.items()}
        if response.status != 200:
            return response.status, got, await response.json()
        assert got["content-type"].startswith("text/event-stream")
        return response.status, got, parse_sse(await response.text())


def assemble(events: list[Event]) -> dict[str, Any]:
    """The final ``Message`` the events add up to (what the SDK accumulates)."""
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for _, data in events:
        if data["type"] == "message_start":
            message = copy.deepcopy(data["message"])
        elif data["type"] == "content_block_start":
            message["content"].append(copy.deepcopy(data["content_block"]))
            partial[data["index"]] = ""
        elif data["type"] == "content_block_delta":
            partial[data["index"]] += data["delta"]["partial_json"]
        elif data["type"] == "content_block_stop":
            raw = partial[data["index"]]
            try:
                message["content"][data["index"]]["input"] = json.loads(raw)
            except json.JSONDecodeError:
                pass
        elif data["type"] == "message_delta":
            message.update(data["delta"])
            message["usage"].update({k: v for k, v in data["usage"].items() if v is not None})
    return message


def test_the_excerpt_is_a_valid_self_contained_schema() -> None:
    Draft202012Validator.check_schema(SPEC)
    text = json.dumps(SPEC)
    for name in SPEC["$defs"]:
        validator(name)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in SPEC["$defs"], ref


@pytest.mark.parametrize("fault", list(ANSWERS))
async def test_every_answer_has_the_published_shape(server: FakeLLMServer, fault: str | None) -> None:
    status, headers, got = await answer(server, fault)
    assert status == ANSWERS[fault]
    if status != 200:
        check("ErrorResponse", got)
        assert got["error"]["type"] == ERROR_TYPES[status]
        assert headers["request-id"] == got["request_id"]
        if status == 429:
            assert float(headers["retry-after"]) > 0
        return
    for event, data in got:
        assert event == data["type"], (event, data)  # the SSE event name is the data's type
        check("ErrorResponse" if event == "error" else "MessageStreamEvent", data)
    names = [event for event, _ in got]
    assert names[:2] == ["message_start", "content_block_start"]
    if fault == "stream_overloaded":  # opens normally, then the error event ends it
        assert names[-1] == "error" and "message_stop" not in names
        error = got[-1][1]
        assert error["error"]["type"] == "overloaded_error"
        assert error["request_id"] == headers["request-id"]
        return
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    message = assemble(got)
    check("Message", message)
    assert message["stop_reason"] == "tool_use" and message["model"] == "claude-haiku-4-5"
    [block] = message["content"]
    assert block["type"] == "tool_use" and block["name"] == OPTIONS_TOOL["name"]
    assert message["usage"]["input_tokens"] > 0 and message["usage"]["output_tokens"] > 1


async def test_a_mid_stream_overload_is_a_failed_call_not_nonsense(server: FakeLLMServer) -> None:
    """The 200 opened, then ``overloaded_error`` came before the tool input was whole: the
    service failed, the model did not talk nonsense."""
    model = claude(server)
    server.faults.append("stream_overloaded")
    with pytest.raises(LLMUnavailable, match="overloaded_error"):
        await model.answer(BULL, ("SPY",))
    assert (model.usage.errors, model.usage.nonsense, model.usage.answers) == (1, 0, 0)
    assert model.usage.calls == 1 and model.usage.timeouts == 0
    assert await model.answer(BULL, ("SPY",))  # the next call is fine
    assert model.usage.answers == 1
    await model.close()


async def test_the_sdk_reads_every_event(server: FakeLLMServer) -> None:
    """The SDK's own models take the fuller events (nothing it reads went missing)."""
    model = claude(server)
    got = await model.answer(BULL, ("SPY",))
    assert got.label == "bullish" and model.usage.tokens_in > 0 and model.usage.tokens_out > 0
    server.faults.append("malformed")
    with pytest.raises(NonsenseAnswer):
        await model.answer(BULL, ("SPY",))
    await model.close()


Drift = Callable[[dict[str, Any]], Any]


@pytest.mark.parametrize(("event", "drift"), [
    ("message_start", lambda d: d["message"].pop("stop_details")),
    ("message_start", lambda d: d["message"].update(type="msg")),
    ("message_start", lambda d: d["message"].update(role="user")),
    ("message_start", lambda d: d["message"]["usage"].pop("cache_read_input_tokens")),
    ("message_start", lambda d: d["message"]["usage"].update(input_tokens=-1)),
    ("message_start", lambda d: d["message"].update(  # the stand-in's old, thinner usage
        usage={"input_tokens": 10, "output_tokens": 1})),
    ("content_block_start", lambda d: d["content_block"].pop("caller")),
    ("content_block_start", lambda d: d["content_block"].update(id="toolu 1")),
    ("content_block_start", lambda d: d.pop("index")),
    ("content_block_delta", lambda d: d["delta"].update(type="json_delta")),
    ("content_block_delta", lambda d: d["delta"].update(partial_json={"direction": "bullish"})),
    ("message_delta", lambda d: d["delta"].update(stop_reason="done")),
    ("message_delta", lambda d: d["usage"].pop("output_tokens")),
    ("message_delta", lambda d: d.update(type="message_update")),
    ("ping", lambda d: d.update(type="pong")),
])
async def test_a_drifted_event_fails(server: FakeLLMServer, event: str, drift: Drift) -> None:
    _, _, events = await answer(server, None)
    data = next(d for e, d in events if e == event)
    check("MessageStreamEvent", data)
    bad = copy.deepcopy(data)
    drift(bad)
    with pytest.raises(jsonschema.ValidationError):
        validator("MessageStreamEvent").validate(bad)


async def test_a_drifted_message_fails(server: FakeLLMServer) -> None:
    _, _, events = await answer(server, None)
    message = assemble(events)
    check("Message", message)
    for drift in (lambda m: m.pop("container"), lambda m: m.update(stop_reason="stop"),
                  lambda m: m["content"][0].update(type="function_call"),
                  lambda m: m["content"][0].update(input="{}")):
        bad = copy.deepcopy(message)
        drift(bad)
        with pytest.raises(jsonschema.ValidationError):
            validator("Message").validate(bad)


@pytest.mark.parametrize("fault", ["529", "stream_overloaded"])
async def test_a_drifted_error_fails(server: FakeLLMServer, fault: str) -> None:
    _, _, got = await answer(server, fault)
    body = got if fault == "529" else got[-1][1]
    check("ErrorResponse", body)
    for drift in (lambda b: b["error"].update(type="overloaded"), lambda b: b["error"].pop("message"),
                  lambda b: b.pop("request_id"), lambda b: b.update(type="failure"),
                  lambda b: b.update(error="overloaded_error")):
        bad = copy.deepcopy(body)
        drift(bad)
        with pytest.raises(jsonschema.ValidationError):
            validator("ErrorResponse").validate(bad)
