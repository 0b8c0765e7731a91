"""The hosted LLMs: an open model on Groq and Claude on Anthropic, through their own SDKs.

Both read a post as delimited data and answer in a fixed shape that is validated before it
is used (:mod:`domain.llm_answer`). Retries on 429/5xx, with backoff and ``retry-after``,
are the SDKs' own (``max_retries``; Groq's ``retry-after`` is in whole seconds); every call
also has a timeout. A failed call raises :class:`LLMUnavailable`, a nonsense answer
:class:`~domain.llm_answer.NonsenseAnswer`; the ensemble counts both and goes on without that
model. Groq's HTTP 400 ``json_validate_failed`` (the model's output failed JSON validation)
is a nonsense answer, not a failed call, and is not retried. Usage and an estimated cost are kept
per model in :class:`LLMUsage`. Keys live in the SDK clients only and are never logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import anthropic
import groq

from stocktracker.domain.llm_answer import (
    ANSWER_SCHEMA,
    OPTIONS_TOOL,
    SYSTEM_PROMPT,
    NonsenseAnswer,
    answer_from,
    parse_json_answer,
    user_prompt,
)
from stocktracker.domain.sentiment import ModelAnswer
from stocktracker.streams.core.settings import SentimentSettings

# Groq models that take a strict JSON schema; the others get JSON mode.
_STRICT_SCHEMA_PREFIXES = ("openai/gpt-oss", "moonshotai/kimi-k2", "meta-llama/llama-4")
_CLAUDE_EXTRA = ("expected_volatility", "score_low", "score_high")


class LLMUnavailable(RuntimeError):
    """The model did not answer: timeout, connection error, or an API error after retries."""


@dataclass(slots=True)
class LLMUsage:
    """What one hosted model has cost so far (estimates from the API's token counts)."""

    calls: int = 0
    answers: int = 0
    errors: int = 0
    timeouts: int = 0
    nonsense: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The counters as plain numbers (for metrics)."""
        return {k: float(v) for k, v in asdict(self).items()}


class LLMModel(Protocol):
    """What the ensemble needs from a hosted model."""

    name: str
    usage: LLMUsage

    async def answer(self, text: str, tickers: tuple[str, ...]) -> ModelAnswer:
        """Rate one post, or raise LLMUnavailable / NonsenseAnswer."""
        ...

    async def close(self) -> None:
        """Release the HTTP client."""
        ...


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens in and out."""

    usd_in: float
    usd_out: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """Dollars for one call."""
        return (tokens_in * self.usd_in + tokens_out * self.usd_out) / 1e6


class GroqModel:
    """An open model on Groq (OpenAI-compatible chat completions), answering JSON.

    Parameters
    ----------
    client:
        An ``AsyncGroq`` client (base URL, key, retries and timeout set on it).
    model:
        The Groq model id (``openai/gpt-oss-120b``, or ``llama-3.3-70b-versatile`` where the
        account still has it).
    price:
        For the running cost estimate.
    timeout_s:
        Whole-call limit, retries included.
    """

    name = "groq"

    def __init__(self, client: groq.AsyncGroq, model: str, price: Price, timeout_s: float) -> None:
        self.client, self.model, self.price, self.timeout_s = client, model, price, timeout_s
        self.usage = LLMUsage()

    @classmethod
    def from_settings(cls, s: SentimentSettings) -> GroqModel | None:
        """The model from settings, or None when there is no key."""
        if s.groq_api_key is None:
            return None
        client = groq.AsyncGroq(api_key=s.groq_api_key.get_secret_value(), base_url=s.groq_base_url,
                                timeout=s.groq_timeout_s, max_retries=s.llm_max_retries)
        return cls(client, s.groq_model, Price(s.groq_usd_per_mtok_in, s.groq_usd_per_mtok_out),
                   s.groq_timeout_s)

    def request(self, text: str, tickers: tuple[str, ...]) -> dict[str, Any]:
        """The keyword arguments of the chat-completions call for one post."""
        strict = self.model.startswith(_STRICT_SCHEMA_PREFIXES)
        response_format: dict[str, Any] = (
            {"type": "json_schema",
             "json_schema": {"name": "sentiment", "schema": ANSWER_SCHEMA, "strict": True}}
            if strict else {"type": "json_object"})
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT + _JSON_HINT},
                         {"role": "user", "content": user_prompt(text, tickers)}],
            "response_format": response_format,
            "temperature": 0,
            "max_completion_tokens": 400,
        }
        if self.model.startswith("openai/gpt-oss"):
            kwargs["reasoning_effort"] = "low"
        return kwargs

    async def answer(self, text: str, tickers: tuple[str, ...]) -> ModelAnswer:
        """Rate one post (see :class:`LLMModel`)."""
        self.usage.calls += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.chat.completions.create(**self.request(text, tickers))
        except (TimeoutError, groq.APITimeoutError) as exc:
            self.usage.timeouts += 1
            raise LLMUnavailable(f"groq: no answer in {self.timeout_s:.1f} s") from exc
        except groq.BadRequestError as exc:
            if _json_validate_failed(exc):  # the model talked nonsense; the service is fine
                self.usage.nonsense += 1
                raise NonsenseAnswer(f"groq: the answer failed JSON validation: {_describe(exc)}") \
                    from exc
            self.usage.errors += 1
            raise LLMUnavailable(f"groq: {_describe(exc)}") from exc
        except groq.APIError as exc:
            self.usage.errors += 1
            raise LLMUnavailable(f"groq: {_describe(exc)}") from exc
        if response.usage is not None:
            self._bill(response.usage.prompt_tokens, response.usage.completion_tokens)
        content = response.choices[0].message.content if response.choices else None
        try:
            result = parse_json_answer(content, self.name, _since_us(started))
        except NonsenseAnswer:
            self.usage.nonsense += 1
            raise
        self.usage.answers += 1
        return result

    def _bill(self, tokens_in: int, tokens_out: int) -> None:
        self.usage.tokens_in += tokens_in
        self.usage.tokens_out += tokens_out
        self.usage.cost_usd += self.price.cost(tokens_in, tokens_out)

    async def close(self) -> None:
        """Release the HTTP client."""
        await self.client.close()


_JSON_HINT = ('\nAnswer with one JSON object: {"label": "bullish|bearish|neutral", '
              '"score": number, "confidence": number, "reasoning": string}.')


class ClaudeModel:
    """Claude through the Messages API, streaming, answering through a forced tool call.

    The tool's input streams in as JSON fragments that the SDK parses as they arrive. The
    numbers come first in the tool's schema, so the answer is ready as soon as the
    ``reasoning`` key has streamed in; the rest of the stream only adds the reasoning, and a
    timeout after the numbers arrived still yields an answer.
    """

    name = "claude"

    def __init__(self, client: anthropic.AsyncAnthropic, model: str, price: Price,
                 timeout_s: float) -> None:
        self.client, self.model, self.price, self.timeout_s = client, model, price, timeout_s
        self.usage = LLMUsage()

    @classmethod
    def from_settings(cls, s: SentimentSettings) -> ClaudeModel | None:
        """The model from settings, or None when there is no key."""
        if s.anthropic_api_key is None:
            return None
        client = anthropic.AsyncAnthropic(api_key=s.anthropic_api_key.get_secret_value(),
                                          base_url=s.anthropic_base_url, timeout=s.claude_timeout_s,
                                          max_retries=s.llm_max_retries)
        return cls(client, s.claude_model, Price(s.claude_usd_per_mtok_in, s.claude_usd_per_mtok_out),
                   s.claude_timeout_s)

    def request(self, text: str, tickers: tuple[str, ...]) -> dict[str, Any]:
        """The keyword arguments of the streaming Messages call for one post."""
        return {
            "model": self.model,
            "max_tokens": 300,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": user_prompt(text, tickers)}],
            "tools": [OPTIONS_TOOL],
            "tool_choice": {"type": "tool", "name": OPTIONS_TOOL["name"]},
        }

    async def answer(self, text: str, tickers: tuple[str, ...]) -> ModelAnswer:
        """Rate one post (see :class:`LLMModel`)."""
        self.usage.calls += 1
        started = time.perf_counter()
        snapshot: Mapping[str, Any] | None = None
        ready: ModelAnswer | None = None
        tokens_in = tokens_out = 0
        raw = ""
        try:
            async with asyncio.timeout(self.timeout_s), \
                    self.client.messages.stream(**self.request(text, tickers)) as stream:
                async for event in stream:
                    if event.type == "message_start":
                        tokens_in = event.message.usage.input_tokens
                    elif event.type == "input_json" and isinstance(event.snapshot, Mapping):
                        raw += event.partial_json
                        snapshot = event.snapshot
                        # Keys come in schema order: once the reasoning's key is in the raw
                        # text, every number before it is complete.
                        if ready is None and '"reasoning"' in raw:
                            ready = self._parse({**snapshot, "reasoning": ""}, started)
                    elif event.type == "message_delta":
                        tokens_out = event.usage.output_tokens
        except NonsenseAnswer:
            self.usage.nonsense += 1
            raise
        except (TimeoutError, anthropic.APITimeoutError) as exc:
            if ready is not None:
                return self._done(ready, tokens_in, tokens_out)
            self.usage.timeouts += 1
            raise LLMUnavailable(f"claude: no answer in {self.timeout_s:.1f} s") from exc
        except Exception as exc:  # API errors, and transport errors of the SDK's HTTP client
            if ready is not None:
                return self._done(ready, tokens_in, tokens_out)
            self.usage.errors += 1
            raise LLMUnavailable(f"claude: {_describe(exc)}") from exc
        if snapshot is None:
            self.usage.nonsense += 1
            raise NonsenseAnswer("claude answered without the tool call")
        try:
            final = self._parse(snapshot, started)
        except NonsenseAnswer:
            self.usage.nonsense += 1
            raise
        if ready is not None:  # the decision was ready earlier; keep its latency
            final = ModelAnswer(final.model, final.score, final.confidence, final.label,
                                ready.latency_us, final.reasoning, final.extra)
        return self._done(final, tokens_in, tokens_out)

    def _parse(self, data: Mapping[str, Any], started: float) -> ModelAnswer:
        return answer_from(data, self.name, _since_us(started), label_key="direction",
                           extra_keys=_CLAUDE_EXTRA)

    def _done(self, result: ModelAnswer, tokens_in: int, tokens_out: int) -> ModelAnswer:
        self.usage.answers += 1
        self.usage.tokens_in += tokens_in
        self.usage.tokens_out += tokens_out
        self.usage.cost_usd += self.price.cost(tokens_in, tokens_out)
        return result

    async def close(self) -> None:
        """Release the HTTP client."""
        await self.client.close()


def llms_from_settings(s: SentimentSettings) -> list[LLMModel]:
    """The hosted models that have keys (none without keys: the local models decide alone)."""
    if s.llm_calls_per_minute == 0:
        return []
    found: list[LLMModel | None] = [GroqModel.from_settings(s), ClaudeModel.from_settings(s)]
    return [m for m in found if m is not None]


def _json_validate_failed(exc: groq.BadRequestError) -> bool:
    """Whether a 400 is Groq's ``json_validate_failed``: the model's output failed JSON (or
    schema) validation. The SDK does not retry a 400, and neither do we: at temperature 0 the
    same prompt fails the same way, and the ensemble's deadline has no room for a second go."""
    body = exc.body
    error = body.get("error", body) if isinstance(body, Mapping) else None
    return isinstance(error, Mapping) and error.get("code") == "json_validate_failed"


def _describe(exc: Exception) -> str:
    """An API error without anything secret: its class, HTTP status and message."""
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", "") or exc)[:200]
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {message}"


def _since_us(started: float) -> int:
    return int((time.perf_counter() - started) * 1e6)
