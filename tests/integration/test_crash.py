"""Trading that survives crashes, on the real broker: ``kill -9`` right after a fill never
books it twice, and a standby worker takes over a killed owner and obeys its switches."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stocktracker.connectors.simulated.journal import KafkaJournal, SimState
from stocktracker.domain.book import distinct_fills
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.topics import topic_name
from stocktracker.streams.samples import at
from tests.integration.helpers import burst, control, members, owner_pid, quotes
from tests.waiting import eventually

pytestmark = pytest.mark.integration
START_CASH = 100_000.0


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings],
        tmp_path: Path) -> Iterator[Run]:
    pipeline_run = Run(run_settings(kafka_bootstrap), tmp_path)
    pipeline_run.worker_env.update({
        "SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO",
        # no offset commit between a fill and the kill: every fill is delivered again
        "STREAM_COMMIT_INTERVAL_S": "60",
        "TRADING_RECONCILE_S": "5"})
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


def broker_state(run: Run) -> SimState:
    """The simulated broker's account as it stands in Kafka (what a restart reloads)."""
    k = run.settings.kafka
    saved = KafkaJournal(k.bootstrap_servers, topic_name(k.topic_prefix, "sim-broker"),
                         "simulated").load()
    assert saved is not None, "the simulated broker never saved its account"
    return SimState.from_dict(saved)


def last_position(run: Run, symbol: str) -> dict[str, Any]:
    positions = [p for p in run.records("positions") if p["symbol"] == symbol]
    assert positions, f"no position of {symbol} published"
    return positions[-1]


def restated_after(run: Run, symbol: str, seen: int, more: int) -> bool:
    """True once ``more`` positions of ``symbol`` were published after the first ``seen``:
    the restarted worker has handled the fills delivered again."""
    return len([p for p in run.records("positions") if p["symbol"] == symbol]) >= seen + more


def test_kill_9_right_after_each_fill_books_every_execution_once(run: Run) -> None:
    run.start_worker()
    quotes(run, at(15, 0), 590.0)
    burst(run, at(15, 0, 5), "up")
    entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
    symbol = entry["symbol"]
    eventually(lambda: [p for p in run.records("positions") if p["symbol"] == symbol])
    run.kill_worker()  # right after the buy: its fill is not committed

    run.start_worker()
    seen = len([p for p in run.records("positions") if p["symbol"] == symbol])
    eventually(lambda: restated_after(run, symbol, seen, 1), timeout=60)
    assert last_position(run, symbol)["qty"] == entry["filled_qty"], "the buy was booked twice"
    quotes(run, at(15, 2), 593.0)  # the call is worth far more: the profit target rests
    quotes(run, at(15, 2, 30), 593.5)  # and fills
    eventually(lambda: last_position(run, symbol)["qty"] == 0, timeout=60)
    run.kill_worker()  # right after the sell

    run.start_worker()
    seen = len([p for p in run.records("positions") if p["symbol"] == symbol])
    eventually(lambda: restated_after(run, symbol, seen, 2), timeout=60)
    account = broker_state(run)
    book = last_position(run, symbol)
    broker_pnl = account.cash - START_CASH  # flat again: the cash change is the P&L
    held = account.positions.get(symbol)
    assert book["qty"] == 0 and (held is None or held.qty == 0)
    assert round(book["realized_pnl"], 2) == round(broker_pnl, 2), \
        f"book {book['realized_pnl']:.2f} != broker {broker_pnl:.2f}"
    assert broker_pnl > 0
    fills = [f for f in run.records("fills") if f["symbol"] == symbol]
    executions = [e for e in account.executions if e.symbol == symbol]
    assert sum(f["qty"] for f in distinct_fills(fills)) == sum(e.qty for e in executions)
    assert len(run.orders(intent="open", status="filled")) == 1, "an entry was sent twice"


def test_the_standby_takes_over_a_killed_owner_and_obeys_the_kill_switch(run: Run) -> None:
    run.start_worker()
    assert run.worker is not None
    first = run.worker.pid
    assert owner_pid(run) == first
    standby = run.spawn("standby")  # a second worker: it scores too, and holds the standby
    assert eventually(lambda: len(members(run)) == 2 and owner_pid(run) == first, timeout=90)
    control(run, "kill", at(14, 59), reason="before the failover")
    quotes(run, at(15, 0), 590.0)
    burst(run, at(15, 0, 5), "before")
    refused = eventually(lambda: run.orders(status="rejected"), timeout=60)[0]
    assert "kill switch" in refused["reason"]

    run.kill_worker()  # the owner dies; the standby holds hot replicas of its tables
    killed = time.monotonic()
    eventually(lambda: owner_pid(run, 5) == standby.pid, timeout=90)
    quotes(run, at(15, 20), 590.0)
    burst(run, at(15, 20, 5), "after")
    refused = eventually(lambda: run.orders(status="rejected", signal_id=signal_of(run, 1)),
                         timeout=90)[0]
    took_over_s = time.monotonic() - killed
    assert "kill switch" in refused["reason"], "the new owner forgot the kill switch"
    assert took_over_s < 60

    control(run, "resume", at(15, 25))
    quotes(run, at(15, 30), 590.0)
    burst(run, at(15, 30, 5), "resumed")
    filled = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)
    assert filled[0]["signal_id"] == signal_of(run, 2)
    control(run, "kill", at(15, 35), reason="after the failover")
    quotes(run, at(15, 45), 590.0)
    burst(run, at(15, 45, 5), "killed-again")
    refused = eventually(lambda: run.orders(status="rejected", signal_id=signal_of(run, 3)),
                         timeout=60)[0]
    assert "kill switch" in refused["reason"]
    assert len(run.orders(intent="open", status="filled")) == 1


def signal_of(run: Run, n: int) -> str:
    """The id of the ``n``-th signal (0-based), once there is one."""
    signals = eventually(lambda: len(run.records("signals")) > n and run.records("signals"),
                         timeout=60)
    return str(signals[n]["id"])
