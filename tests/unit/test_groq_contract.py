"""The local Groq endpoint's answers, and our requests, against the published API shapes.

``tests/resources/groq/`` holds the excerpts (sources, versions and licences in its
README.md): OpenAI's chat-completions request, response and error object, which Groq's
OpenAI-compatible API mirrors, and Groq's own error object with its
``json_validate_failed`` 400. Every answer the local endpoint gives is read raw and
validated, so a drift in ``connectors/simulated/llm_servers.py`` fails here. (``hang``
and ``drop`` answer nothing to validate.)
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from jsonschema import Draft202012Validator

from stocktracker.connectors.simulated.llm_servers import FakeLLMServer
from stocktracker.sentiment.llm import GroqModel
from stocktracker.streams.core.settings import SentimentSettings
from tests import contract

RESOURCES = Path(__file__).parents[1] / "resources" / "groq"
OPENAI = json.loads((RESOURCES / "openai-chat-completions.schema.json").read_text())
GROQ = json.loads((RESOURCES / "groq-error.schema.json").read_text())
PATH = "/openai/v1/chat/completions"
BULL = "$SPY 600c printing, blowout jobs report, we going to the moon 🚀🚀"

# Every fault the Groq endpoint answers, with the status it answers it with.
ANSWERS = {None: 200, "nonsense": 200, "429": 429, "500": 500, "malformed": 400,
           "decommissioned": 400}


validator = contract.validator
check = contract.check


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as s:
        yield s


def model(server: FakeLLMServer, name: str = "openai/gpt-oss-120b") -> GroqModel:
    groq_model = GroqModel.from_settings(SentimentSettings(  # type: ignore[call-arg]
        groq_api_key="gsk-contract", groq_base_url=server.url, groq_model=name, llm_max_retries=0))
    assert groq_model is not None
    return groq_model


async def answer(server: FakeLLMServer, fault: str | None,
                 name: str = "openai/gpt-oss-120b") -> tuple[int, dict[str, str], Any]:
    """The raw answer to the request our client sends, with ``fault`` queued."""
    if fault is not None:
        server.faults.append(fault)
    body = model(server, name).request(BULL, ("SPY",))
    async with aiohttp.ClientSession() as session, \
            session.post(server.url + PATH, json=body,
                         headers={"Authorization": "Bearer gsk-contract"}) as response:
        return response.status, dict(response.headers), await response.json()


def test_the_excerpts_are_valid_schemas() -> None:
    for doc in (OPENAI, GROQ):
        Draft202012Validator.check_schema(doc)
        for name in doc["$defs"]:
            validator(doc, name)


@pytest.mark.parametrize("fault", list(ANSWERS))
async def test_every_answer_has_the_published_shape(server: FakeLLMServer, fault: str | None) -> None:
    status, headers, body = await answer(server, fault)
    assert status == ANSWERS[fault]
    if status == 200:
        check(OPENAI, "CreateChatCompletionResponse", body)
        assert body["object"] == "chat.completion" and body["model"] == "openai/gpt-oss-120b"
        assert isinstance(body["choices"][0]["message"]["content"], str)
        return
    check(OPENAI, "ErrorResponse", body)  # OpenAI's error object ...
    check(GROQ, "ErrorResponse", body)  # ... and Groq's
    if fault == "malformed":  # the model's output failed JSON validation
        check(GROQ, "JsonValidateFailed", body)
        json_mode_output = body["error"]["failed_generation"]
        with pytest.raises(json.JSONDecodeError):
            json.loads(json_mode_output)
    if status == 429:  # Groq sends retry-after in whole seconds
        assert re.fullmatch(r"[1-9][0-9]*", headers["Retry-After"]), headers
        assert body["error"]["code"] == "rate_limit_exceeded"


async def test_json_mode_answers_too(server: FakeLLMServer) -> None:
    for fault in (None, "nonsense", "malformed"):
        status, _, body = await answer(server, fault, "llama-3.3-70b-versatile")
        check(OPENAI, "ErrorResponse" if status == 400 else "CreateChatCompletionResponse", body)


async def test_our_requests_have_the_published_shape(server: FakeLLMServer) -> None:
    """What the groq SDK actually sent for us, strict JSON schema and JSON mode alike."""
    for name in ("openai/gpt-oss-120b", "llama-3.3-70b-versatile"):
        groq_model = model(server, name)
        await groq_model.answer(BULL, ("SPY",))
        await groq_model.close()
    assert len(server.requests) == 2
    for sent in server.requests:
        body = {k: v for k, v in sent.items() if not k.startswith("_")}
        check(OPENAI, "CreateChatCompletionRequest", body)
    assert [r["response_format"]["type"] for r in server.requests] == ["json_schema", "json_object"]


@pytest.mark.parametrize(("name", "drift"), [
    ("CreateChatCompletionResponse", lambda b: b.pop("created")),
    ("CreateChatCompletionResponse", lambda b: b.update(object="chat.completions")),
    ("CreateChatCompletionResponse", lambda b: b["choices"][0].pop("logprobs")),
    ("CreateChatCompletionResponse", lambda b: b["choices"][0].update(finish_reason="done")),
    ("CreateChatCompletionResponse", lambda b: b["choices"][0]["message"].update(role="bot")),
    ("CreateChatCompletionResponse", lambda b: b["usage"].pop("total_tokens")),
    ("ErrorResponse", lambda b: b["error"].pop("param")),
    ("ErrorResponse", lambda b: b["error"].update(code=429)),
])
async def test_a_drift_fails(server: FakeLLMServer, name: str, drift: Any) -> None:
    _, _, body = await answer(server, None if name.startswith("Create") else "500")
    check(OPENAI, name, body)
    bad = copy.deepcopy(body)
    drift(bad)
    with pytest.raises(jsonschema.ValidationError):
        validator(OPENAI, name).validate(bad)


async def test_a_json_validation_failure_needs_its_code_and_output(server: FakeLLMServer) -> None:
    _, _, body = await answer(server, "malformed")
    for drift in (lambda e: e.pop("failed_generation"), lambda e: e.update(code="json_invalid"),
                  lambda e: e.update(type="server")):
        bad = copy.deepcopy(body)
        drift(bad["error"])
        with pytest.raises(jsonschema.ValidationError):
            validator(GROQ, "JsonValidateFailed").validate(bad)
