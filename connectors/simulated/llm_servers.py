"""Local stand-ins for Groq's and Anthropic's HTTP APIs, for tests, benchmarks and demos.

They answer in each API's own shapes, so the real ``groq`` and ``anthropic`` SDKs talk to
them unchanged (only ``base_url`` differs): Groq's OpenAI-compatible
``POST /openai/v1/chat/completions`` and Anthropic's ``POST /v1/messages`` with
server-sent-event streaming of a forced tool call. Latency and faults are injectable:

- ``latency_s``: added before each answer (Claude's stream is spread over it);
- ``faults``: a queue consumed one per request: ``"429"`` (with an integer
  ``retry-after``, :attr:`FakeLLMServer.retry_after_s` seconds, as Groq and Anthropic send it), ``"500"``,
  ``"529"``, ``"decommissioned"`` (Groq: HTTP 400 ``model_decommissioned``, a request
  error), ``"malformed"`` (Groq: the answer failed JSON validation, which Groq answers
  with an HTTP 400 ``json_validate_failed`` carrying the ``failed_generation``; Anthropic: a
  tool input that breaks the schema), ``"nonsense"`` (a 200 whose content is valid JSON
  that fails our answer schema: JSON mode checks syntax only), ``"hang"`` (never answers),
  ``"drop"`` (closes the connection mid-answer), ``"stream_overloaded"`` (Anthropic: the stream
  opens with HTTP 200, then an ``event: error`` carrying an ``overloaded_error`` arrives before
  the tool input is complete, as Anthropic sends it when it is overloaded mid-answer);
- ``reader``: how the "model" reads a post (default: the lexicon model, so answers are
  sensible); a test can make it gullible to show what validation does.

Every request body is kept in ``requests`` for assertions.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from stocktracker.connectors.simulated.serving import LocalServer, in_thread, run_until_killed
from stocktracker.domain.lexicon import LexiconModel

Reading = dict[str, Any]  # {"label", "score", "confidence", "reasoning", ...}
_POST = re.compile(r"<post>\n(.*)\n</post>", re.DOTALL)


def lexicon_reader() -> Callable[[str], Reading]:
    """A reader that answers what the lexicon model says, with slightly more confidence."""
    model = LexiconModel()

    def read(text: str) -> Reading:
        r = model.score(text)
        return {"label": r.label, "score": round(r.score, 4),
                "confidence": round(min(1.0, 0.3 + r.confidence), 4),
                "reasoning": f"reads {r.label}"}

    return read


def post_of(prompt: str) -> str:
    """The post text inside the prompt's delimiters (the whole prompt if none)."""
    match = _POST.search(prompt)
    return match.group(1) if match else prompt


@dataclass
class FakeLLMServer(LocalServer):
    """One aiohttp server that serves both APIs on a loopback port.

    Use ``async with FakeLLMServer() as server`` inside a running event loop; its
    ``url`` is the ``base_url`` for both SDKs (``AsyncGroq`` and ``AsyncAnthropic``).
    """

    latency_s: float = 0.0
    faults: list[str] = field(default_factory=list)
    reader: Callable[[str], Reading] = field(default_factory=lexicon_reader)
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    retry_after_s: int = 1

    def count(self, path_part: str) -> int:
        """How many requests went to a path containing ``path_part``."""
        return sum(1 for r in self.requests if path_part in r["_path"])

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/openai/v1/chat/completions", self._groq)
        app.router.add_post("/v1/messages", self._anthropic)
        return app

    async def _begin(self, request: web.Request) -> tuple[dict[str, Any], str | None]:
        body = await request.json()
        body["_path"] = request.path
        body["_headers"] = {k.lower(): v for k, v in request.headers.items()
                            if k.lower() in ("x-stainless-retry-count", "anthropic-version")}
        self.requests.append(body)
        fault = self.faults.pop(0) if self.faults else None
        if fault == "hang":
            await asyncio.sleep(3600)
        return body, fault

    # ---- Groq -----------------------------------------------------------------------------
    async def _groq(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._begin(request)
        if fault in ("429", "500"):
            return _groq_error(int(fault), self.retry_after_s)
        if fault == "decommissioned":
            return _groq_decommissioned(body["model"])
        await asyncio.sleep(self.latency_s)
        prompt = body["messages"][-1]["content"]
        reading = self.reader(post_of(prompt))
        if fault == "malformed":
            return _groq_json_validate_failed('{"label": "bullish", "score": ')
        content = json.dumps(reading) if fault != "nonsense" else _GROQ_NONSENSE
        if fault == "drop":
            return await _drop(request)
        created = int(time.time())
        return web.json_response({
            "id": f"chatcmpl-{uuid.uuid4()}",
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": _tokens(prompt) + 180, "completion_tokens": _tokens(content),
                      "total_tokens": _tokens(prompt) + 180 + _tokens(content),
                      "queue_time": 0.01, "prompt_time": 0.005, "completion_time": self.latency_s,
                      "total_time": self.latency_s + 0.015},
            "system_fingerprint": "fp_local",
            "x_groq": {"id": f"req_{uuid.uuid4().hex[:26]}"},
        })

    # ---- Anthropic ------------------------------------------------------------------------
    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body, fault = await self._begin(request)
        request_id = f"req_{uuid.uuid4().hex[:24]}"
        if fault in ("429", "500", "529"):
            return _anthropic_error(int(fault), request_id, self.retry_after_s)
        prompt = body["messages"][-1]["content"]
        reading = self.reader(post_of(prompt))
        tool = {
            "direction": reading["label"], "score": reading["score"],
            "confidence": reading["confidence"],
            "expected_volatility": reading.get("expected_volatility", "normal"),
            "score_low": max(-1.0, reading["score"] - 0.2),
            "score_high": min(1.0, reading["score"] + 0.2),
            "reasoning": reading.get("reasoning", ""),
        }
        tool_json = json.dumps(tool)
        if fault in ("malformed", "nonsense"):
            tool_json = _NONSENSE
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "request-id": request_id})
        await response.prepare(request)
        tokens_in = _tokens(prompt) + 400
        # Every field Anthropic's spec lists as always present is sent, null where it has none.
        await _sse(response, "message_start", {"type": "message_start", "message": {
            "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
            "content": [], "model": body["model"], "stop_reason": None, "stop_sequence": None,
            "stop_details": None, "container": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                         "ephemeral_1h_input_tokens": 0},
                      "server_tool_use": None, "service_tier": "standard",
                      "inference_geo": None}}})
        await _sse(response, "content_block_start", {
            "type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}",
                              "name": body["tools"][0]["name"], "input": {},
                              "caller": {"type": "direct"}}})
        await _sse(response, "ping", {"type": "ping"})
        pieces = [tool_json[i:i + 12] for i in range(0, len(tool_json), 12)]
        for n, piece in enumerate(pieces):
            await asyncio.sleep(self.latency_s / len(pieces))
            if fault == "drop" and n == len(pieces) // 2:
                assert request.transport is not None
                request.transport.close()
                return response
            if fault == "stream_overloaded" and n == min(2, len(pieces) - 1):
                await _sse(response, "error", _anthropic_error_body(529, request_id))
                await response.write_eof()
                return response
            await _sse(response, "content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": piece}})
        await _sse(response, "content_block_stop", {"type": "content_block_stop", "index": 0})
        await _sse(response, "message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None, "stop_details": None,
                      "container": None},
            "usage": {"output_tokens": _tokens(tool_json), "input_tokens": tokens_in,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "server_tool_use": None}})
        await _sse(response, "message_stop", {"type": "message_stop"})
        await response.write_eof()
        return response


def serve_in_thread(server: FakeLLMServer | None = None) -> AbstractContextManager[FakeLLMServer]:
    """Run a server on its own event loop in a daemon thread (for sync callers, subprocesses).

    Its ``latency_s``, ``faults`` and ``reader`` may be changed from the caller's thread.
    """
    return in_thread(server or FakeLLMServer(), "LLM server")


async def _sse(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


_NONSENSE = '{"direction": "bullish", "score": "very", "confidence": 2}'
"""A tool input that is valid JSON but breaks the tool's schema."""
_GROQ_NONSENSE = '{"label": "up", "score": "very", "confidence": 2, "reasoning": ""}'
"""Valid JSON that is not an answer: what JSON mode lets through (it checks syntax only)."""


def _groq_error(status: int, retry_after_s: int = 1) -> web.Response:
    """Groq's error object (OpenAI's shape: ``message``, ``type``, ``param``, ``code``); a 429
    says when to come back in whole seconds, as Groq does."""
    kind = ("rate_limit_exceeded", "tokens") if status == 429 else ("internal_server_error", "server")
    return web.json_response(
        {"error": {"message": f"local fault {status}", "type": kind[1], "param": None,
                   "code": kind[0]}},
        status=status, headers={"retry-after": str(int(retry_after_s))} if status == 429 else {})


def _groq_decommissioned(model: str) -> web.Response:
    """Groq's answer for a retired model: a 400 that no retry mends."""
    return web.json_response(
        {"error": {"message": f"The model `{model}` has been decommissioned and is no longer "
                              "supported.",
                   "type": "invalid_request_error", "param": None, "code": "model_decommissioned"}},
        status=400)


def _groq_json_validate_failed(generated: str) -> web.Response:
    """What Groq answers when the model's output fails JSON validation (JSON mode, or a
    schema it could not hold to): HTTP 400, code ``json_validate_failed``, the output in
    ``failed_generation``. Not retryable: the SDK does not retry a 400."""
    return web.json_response(
        {"error": {"message": "Failed to generate JSON. Please adjust your prompt. See "
                              "'failed_generation' for more details.",
                   "type": "invalid_request_error", "param": None, "code": "json_validate_failed",
                   "failed_generation": generated}},
        status=400)


def _anthropic_error_body(status: int, request_id: str) -> dict[str, Any]:
    """Anthropic's error object (``type: error``, the ``error`` with its ``type`` and
    ``message``, and the ``request_id``), as an HTTP answer's body or a stream's ``error``
    event carries it."""
    kind = {429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}[status]
    return {"type": "error", "error": {"type": kind, "message": f"local fault {status}"},
            "request_id": request_id}


def _anthropic_error(status: int, request_id: str, retry_after_s: int = 1) -> web.Response:
    headers = {"request-id": request_id}
    if status == 429:  # Anthropic's rate-limit answer says how long to wait in whole seconds
        headers["retry-after"] = str(int(retry_after_s))
    return web.json_response(_anthropic_error_body(status, request_id), status=status,
                             headers=headers)


async def _drop(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"id": "chatcmpl-')
    assert request.transport is not None
    request.transport.close()
    return response


def _tokens(text: str) -> int:
    """A rough token count (about four characters a token)."""
    return max(1, len(text) // 4)


def main() -> None:
    """``python -m stocktracker.connectors.simulated.llm_servers --port P --latency S``: serve
    until killed."""
    import argparse

    parser = argparse.ArgumentParser(description="Local Groq + Anthropic API stand-in.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args()
    run_until_killed(FakeLLMServer(latency_s=args.latency, port=args.port),
                     lambda server: [server.url])


if __name__ == "__main__":
    main()
