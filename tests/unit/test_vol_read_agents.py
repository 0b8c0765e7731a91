"""Claude's volatility read through the live agents (the simulation's host, as the worker
runs them): the real ``anthropic`` SDK against the local Messages API answers late, its
revision carries the read, the aggregate windows it once per post, and the signal says
whether it agreed with the regime the market agent measured for SPY."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from stocktracker.connectors.replay.source import ReplayItem
from stocktracker.connectors.simulated.llm_servers import FakeLLMServer, lexicon_reader
from stocktracker.sentiment.ensemble import Ensemble
from stocktracker.sentiment.llm import ClaudeModel
from stocktracker.streams.core.settings import SentimentSettings, Settings
from stocktracker.streams.samples import at, chain, post
from stocktracker.streams.simulation import Outcome, Simulation

KEEP = ("scores", "sentiment", "signals", "orders")
TEXTS = ["$SPY breaking out, loading calls 🚀", "$SPY calls printing, to the moon 🚀",
         "$SPY ripping higher, bought more calls", "$SPY bullish breakout, calls all day 🚀"]


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    lexicon = lexicon_reader()

    def expects_high_vol(text: str) -> dict[str, Any]:
        return {**lexicon(text), "expected_volatility": "high"}

    async with FakeLLMServer(latency_s=0.15, reader=expects_high_vol) as s:
        yield s


def settings() -> Settings:
    return Settings(kafka={"bootstrap_servers": "127.0.0.1:1"},  # type: ignore[arg-type]
                    sentiment=SentimentSettings(_env_file=None, finbert="off",  # type: ignore[call-arg]
                                                llm_calls_per_minute=0))


def late_claude(server: FakeLLMServer) -> Ensemble:
    """Lexicon now, Claude after the 20 ms deadline (so its answer is a revision)."""
    s = SentimentSettings(_env_file=None, finbert="off", deadline_ms=20,  # type: ignore[call-arg]
                          llm_min_relevance=0.0, anthropic_api_key="sk-ant-local",
                          anthropic_base_url=server.url, claude_timeout_s=5.0, llm_max_retries=0)
    claude = ClaudeModel.from_settings(s)
    assert claude is not None
    return Ensemble(s, llms=[claude])


def items(last_quote_us: int) -> list[ReplayItem]:
    """SPY's quotes up to ``last_quote_us``, then four bullish posts by four authors."""
    quotes = [ReplayItem(t, "quotes", "Quote", q["symbol"], q)
              for t in (at(14, 58), last_quote_us) for q in chain(t, 590.0)[:1]]
    posts = [ReplayItem(at(15, 0, 10 * n), "posts", "Post", f"p{n}",
                        post(f"p{n}", f"author{n}", text, at(15, 0, 10 * n)))
             for n, text in enumerate(TEXTS)]
    return [*quotes, *posts]


async def run_with_claude(server: FakeLLMServer, last_quote_us: int) -> Outcome:
    ensemble = late_claude(server)
    sim = Simulation(settings(), ensemble=ensemble, keep=KEEP)
    sim.reconciled.set()
    try:
        return await sim.run(items(last_quote_us))
    finally:
        await ensemble.close()


@pytest.mark.parametrize(("last_quote_us", "regime", "agreement"), [
    (at(15, 0, 25), "normal", "disagree"),  # SPY quoted 5 s before the signal
    (at(14, 59), "halted", "agree"),  # no SPY price for 90 s in market hours
])
async def test_claudes_late_read_reaches_the_aggregate_and_the_signal(
        server: FakeLLMServer, last_quote_us: int, regime: str, agreement: str) -> None:
    out = await run_with_claude(server, last_quote_us)
    assert not out.failures
    scores = out.records["scores"]
    assert [s["revision"] for s in scores] == [0, 1] * len(TEXTS)
    first, late = scores[0], scores[1]
    assert first["expected_volatility"] is None and first["score_low"] is None
    assert [m["model"] for m in late["models"]] == ["lexicon", "claude"]
    assert late["expected_volatility"] == "high"
    assert late["score_low"] == pytest.approx(max(-1.0, late["models"][1]["score"] - 0.2))
    assert late["score_low"] < late["score_high"]
    last = out.records["sentiment"][-1]
    assert last["posts"] == len(TEXTS)
    assert (last["llm_vol_low"], last["llm_vol_normal"], last["llm_vol_high"]) == (0, 0, 4)
    widths = [s["score_high"] - s["score_low"] for s in scores if s["revision"] == 1]
    assert last["llm_vol"] == "high"
    assert last["llm_interval_width"] == pytest.approx(sum(widths) / len(widths))
    [signal] = out.records["signals"]
    assert signal["direction"] == "bullish" and signal["llm_vol"] == "high"
    assert (signal["measured_regime"], signal["vol_agreement"]) == (regime, agreement)


async def test_scores_delivered_twice_count_once_in_the_window(server: FakeLLMServer) -> None:
    out = await run_with_claude(server, at(15, 0, 25))
    replay = Simulation(settings(), rescore=False, keep=KEEP)
    replay.reconciled.set()
    again = [ReplayItem(s["event_time"], "scores", "Score", s["ticker"], s)
             for s in out.records["scores"] for _ in range(2)]  # at-least-once: each twice
    redone = await replay.run(again)
    assert not redone.failures
    want = out.records["sentiment"][-1]
    got = redone.records["sentiment"][-1]
    for name in ("posts", "llm_vol_low", "llm_vol_normal", "llm_vol_high", "llm_vol",
                 "llm_interval_width", "mean"):
        assert got[name] == pytest.approx(want[name]), name
    assert [s["id"] for s in redone.records["signals"]] == [s["id"] for s in out.records["signals"]]
