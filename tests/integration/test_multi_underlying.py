"""Two underlyings on the real broker: a generated SPY and QQQ day where both trade, one
underlying's move exits only its own position, and a total-premium limit used up by the
first entry refuses the second underlying's."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stocktracker.connectors.replay.runner import run_replay
from stocktracker.connectors.simulated.market import day_items
from stocktracker.domain.market_day import generate_market_day
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.samples import at, chain, post
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings],
        tmp_path: Path) -> Iterator[Run]:
    pipeline_run = Run(run_settings(kafka_bootstrap), tmp_path)
    pipeline_run.worker_env.update({"SENTIMENT_FINBERT": "off", "SIGNAL_TICKERS": "SPY,QQQ",
                                    "STOCKTRACKER_LOG_LEVEL": "INFO"})
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


def quotes(run: Run, event_us: int, **spots: float) -> None:
    """Each named underlying's quote and 0DTE chain around its spot, at ``event_us``."""
    for ticker, spot in spots.items():
        for quote in chain(event_us, spot, ticker):
            run.send("quotes", "Quote", ticker, quote)


def burst(run: Run, ticker: str, start_us: int, count: int = 5) -> None:
    """``count`` bullish posts on ``ticker`` by as many authors, five seconds apart."""
    for n in range(count):
        pid = f"{ticker}-{start_us}-{n}"
        run.send("posts", "Post", pid, post(pid, f"{ticker}-author{n}",
                                            f"${ticker} breaking out, loading calls 🚀",
                                            start_us + n * 5_000_000))


def opened(run: Run, ticker: str) -> list[dict[str, object]]:
    return run.orders(intent="open", status="filled", underlying=ticker)


def test_a_generated_two_underlying_day_trades_both(run: Run) -> None:
    market = generate_market_day(datetime(2026, 11, 24, 14, 30, tzinfo=UTC),
                                 datetime(2026, 11, 24, 21, 0, tzinfo=UTC), seed=7,
                                 quote_every_s=15.0, strikes_each_side=3)
    first_minutes = [i for i in day_items(market) if i.event_us < at(14, 50)]
    run.start_worker()
    # 30 times real time: slow enough on a busy two-core machine that the quotes keep up
    # with the posts (an entry refuses a quote older than 30 s of event time)
    run_replay(first_minutes, run.producer, speed=30.0, stop=threading.Event())
    signals = eventually(lambda: {s["ticker"] for s in run.records("signals")} >= {"SPY", "QQQ"}
                         and run.records("signals"), timeout=90)
    assert {s["ticker"] for s in signals} == {"SPY", "QQQ"}
    for ticker in ("SPY", "QQQ"):
        entries = eventually(lambda t=ticker: opened(run, t), timeout=60)  # type: ignore[misc]
        assert all(str(e["symbol"]).startswith(f"{ticker}261124") for e in entries)
    assert run.records("deadletter") == []


def test_one_underlyings_move_exits_only_its_own_position(run: Run) -> None:
    run.start_worker()
    quotes(run, at(15, 0), SPY=590.0, QQQ=510.0)
    burst(run, "SPY", at(15, 0, 5))
    burst(run, "QQQ", at(15, 0, 6))
    spy = eventually(lambda: opened(run, "SPY"), timeout=60)[0]
    qqq = eventually(lambda: opened(run, "QQQ"), timeout=60)[0]
    assert spy["symbol"] != qqq["symbol"]
    # QQQ jumps, SPY stays: QQQ's call reaches its target, SPY's position is left alone
    quotes(run, at(15, 2), SPY=590.0, QQQ=513.0)
    eventually(lambda: run.orders(intent="close", status="new", underlying="QQQ"), timeout=60)
    quotes(run, at(15, 2, 25), SPY=590.0, QQQ=513.5)
    closed = eventually(lambda: run.orders(intent="close", status="filled"), timeout=60)
    assert [c["symbol"] for c in closed] == [qqq["symbol"]]
    quotes(run, at(15, 2, 50), SPY=590.0, QQQ=513.5)
    spy_positions = eventually(lambda: [p for p in run.records("positions")
                                        if p["symbol"] == spy["symbol"]])
    assert spy_positions[-1]["qty"] == spy["filled_qty"]
    assert run.orders(intent="close", underlying="SPY") == []


def test_a_used_up_total_premium_refuses_the_second_underlyings_entry(run: Run) -> None:
    # an entry here is 5 contracts (RISK_MAX_CONTRACTS_PER_ORDER) of about $0.50: the first
    # fits in $400, the second, as large, would pass it
    run.worker_env["RISK_MAX_TOTAL_PREMIUM"] = "400"
    run.start_worker()
    quotes(run, at(15, 0), SPY=590.0, QQQ=510.0)
    burst(run, "SPY", at(15, 0, 5))
    spy = eventually(lambda: opened(run, "SPY"), timeout=60)[0]
    assert 200 < spy["filled_qty"] * spy["filled_avg_price"] * 100 <= 400
    quotes(run, at(15, 0, 40), SPY=590.0, QQQ=510.0)
    burst(run, "QQQ", at(15, 0, 45))
    refused = eventually(lambda: run.orders(underlying="QQQ", status="rejected"), timeout=60)[0]
    assert "total premium" in refused["reason"] and "max $400.00" in refused["reason"]
    assert opened(run, "QQQ") == []
