"""Trading stories on the real broker: exits close what entries opened, and the operator's
control commands pause, resume and flatten."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.samples import at
from tests.integration.helpers import burst, control, quotes
from tests.waiting import eventually

pytestmark = pytest.mark.integration

@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings],
        tmp_path: Path) -> Iterator[Run]:
    pipeline_run = Run(run_settings(kafka_bootstrap), tmp_path)
    pipeline_run.worker_env.update({"SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO"})
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


def test_profit_target_closes_the_position(run: Run) -> None:
    run.start_worker()
    quotes(run, at(15, 0), 590.0)
    burst(run, at(15, 0, 5), "up")
    entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
    assert entry["qty"] >= 1 and "budget" in entry["sizing"]
    quotes(run, at(15, 2), 593.0)  # the call is worth far more: profit target
    # The target's limit is the mid less a tick, inside the spread: it rests until a bid
    # reaches it.
    rested = eventually(lambda: run.orders(intent="close", status="new"), timeout=60)[0]
    assert "profit" in (rested["reason"] or "") and rested["limit_price"] > entry["filled_avg_price"]
    quotes(run, at(15, 2, 30), 593.5)
    exit_order = eventually(lambda: run.orders(intent="close", status="filled"), timeout=60)[0]
    assert exit_order["symbol"] == entry["symbol"] and exit_order["qty"] == entry["filled_qty"]
    assert exit_order["side"] == "sell" and "profit" in (exit_order["reason"] or "")
    assert exit_order["filled_avg_price"] > entry["filled_avg_price"] * 1.5
    positions = eventually(lambda: [p for p in run.records("positions")
                                    if p["symbol"] == entry["symbol"] and p["qty"] == 0])
    assert positions[-1]["realized_pnl"] > 0
    quotes(run, at(15, 3), 594.0)  # later quotes do not sell again
    eventually(lambda: run.records("quotes") is not None)
    assert len(run.orders(intent="close", status="new")) == 1


def test_pause_refuses_resume_allows_and_flatten_closes(run: Run) -> None:
    run.start_worker()
    control(run, "pause", at(14, 59), reason="test")
    quotes(run, at(15, 0), 590.0)
    burst(run, at(15, 0, 5), "paused")
    refused = eventually(lambda: run.orders(status="rejected"), timeout=60)[0]
    assert "paused" in refused["reason"]
    control(run, "resume", at(15, 5))
    quotes(run, at(15, 20), 590.0)
    burst(run, at(15, 20, 5), "resumed")  # past the 10-minute cool-down
    entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
    control(run, "flatten", at(15, 21), reason="end of test")
    closed = eventually(lambda: run.orders(intent="close", status="filled"), timeout=60)[0]
    assert closed["symbol"] == entry["symbol"] and closed["qty"] == entry["filled_qty"]
    assert "flatten" in closed["reason"]
    control(run, "set_limits", at(15, 22), bogus="1")  # refused: dead-lettered with why
    dead = eventually(lambda: run.records("deadletter"), timeout=30)
    assert dead[0]["stage"] == "control" and "bogus" in dead[0]["reason"]


def test_a_stop_replaces_a_resting_target(run: Run) -> None:
    run.start_worker()
    quotes(run, at(15, 0), 590.0)
    burst(run, at(15, 0, 5), "up")
    entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
    quotes(run, at(15, 2), 593.0)  # the target rests inside the spread
    target = eventually(lambda: run.orders(intent="close", status="new"), timeout=60)[0]
    # The fall comes 20 s on: the target's quote is still fresh (TRADING_STALE_POSITION_S is
    # 30) and it has not rested long enough to be re-priced (60 s), so the only exit that
    # can fire is the stop, whichever of the burst's quotes the exits agent reads first.
    quotes(run, at(15, 2, 20), 588.0)  # the fall fires the stop: the target is cancelled first
    eventually(lambda: run.orders(client_order_id=target["client_order_id"], status="canceled"),
               timeout=60)
    quotes(run, at(15, 2, 25), 588.0)  # ... and the stop goes out at the bid
    stop = eventually(lambda: run.orders(intent="close", status="filled"), timeout=60)[0]
    assert "stop" in (stop["reason"] or "") and stop["qty"] == entry["filled_qty"]
    assert stop["client_order_id"] != target["client_order_id"]
    assert stop["filled_avg_price"] < entry["filled_avg_price"]


def test_a_target_the_market_does_not_reach_is_sent_again_at_the_bid(run: Run) -> None:
    run.start_worker()
    quotes(run, at(15, 0), 590.0)
    burst(run, at(15, 0, 5), "up")
    entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
    quotes(run, at(15, 2), 593.0)  # the target rests inside the spread ...
    target = eventually(lambda: run.orders(intent="close", status="new"), timeout=60)[0]
    # ... and the bid stays below it. Each burst comes less than TRADING_STALE_POSITION_S
    # (30 s) after the last, so the contract's quote is never stale while the burst's other
    # quotes are read first, and the re-sent exit is a limit at the bid, not a market order.
    quotes(run, at(15, 2, 25), 593.0)
    quotes(run, at(15, 2, 50), 593.0)
    quotes(run, at(15, 3, 1), 593.0)  # a minute on: cancelled to be sent again
    eventually(lambda: run.orders(client_order_id=target["client_order_id"], status="canceled"),
               timeout=60)
    quotes(run, at(15, 3, 6), 593.0)
    again = eventually(lambda: run.orders(intent="close", status="filled"), timeout=60)[0]
    assert again["client_order_id"] != target["client_order_id"]
    assert "profit" in (again["reason"] or "") and again["qty"] == entry["filled_qty"]
    assert again["limit_price"] < target["limit_price"]  # the bid, not inside the spread
    assert again["filled_avg_price"] > entry["filled_avg_price"] * 1.5
