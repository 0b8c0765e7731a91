"""Stories on the real broker: post bursts become orders, bad bytes dead-letter, a worker
restart keeps its windows and never orders twice for one signal."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stocktracker.agents.execute import client_order_id
from stocktracker.streams.commands.local_run import Run, wait_ready
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.samples import at, chain, post
from tests.integration.helpers import BULLISH
from tests.waiting import eventually

pytestmark = pytest.mark.integration

BEARISH = "$SPY breaking down hard, loading puts 📉"


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings],
        tmp_path: Path) -> Iterator[Run]:
    pipeline_run = Run(run_settings(kafka_bootstrap), tmp_path)
    pipeline_run.worker_env["STOCKTRACKER_LOG_LEVEL"] = "INFO"  # a failure's log says why
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


def burst(run: Run, text: str, start_us: int, count: int, tag: str, first: int = 0) -> None:
    for n in range(first, first + count):
        run.send("posts", "Post", f"{tag}-{n}",
                 post(f"{tag}-{n}", f"author{n}", text, start_us + n * 5_000_000))


def filled(run: Run) -> list[dict[str, object]]:
    """Filled entries (exits are orders too)."""
    return [o for o in run.records("orders") if o["status"] == "filled" and o["intent"] == "open"]


def publish_chain(run: Run, event_us: int, spot: float = 590.0) -> None:
    for quote in chain(event_us, spot):
        run.send("quotes", "Quote", "SPY", quote)


def test_bullish_burst_buys_a_call_and_bearish_burst_buys_a_put(run: Run) -> None:
    run.start_worker()
    publish_chain(run, at(15, 0))
    burst(run, BULLISH, at(15, 0, 5), 5, "bull")
    orders = eventually(lambda: filled(run), timeout=60)
    call = orders[0]
    assert [o["status"] for o in run.records("orders")][:2] == ["new", "filled"]
    assert call["option_type"] == "call" and call["expiry"] == "2026-11-24"
    assert abs(call["strike"] - 590) <= 1
    assert call["client_order_id"] == client_order_id(run.records("signals")[0]["id"])
    fills = eventually(lambda: run.records("fills"))
    assert fills[0]["symbol"] == call["symbol"] and fills[0]["price"] > 0
    for stage in ("ingest_in", "score_out", "aggregate_out", "signal_out", "execute_out"):
        assert stage in call["trace"], stage

    publish_chain(run, at(15, 40), spot=588.0)
    burst(run, BEARISH, at(15, 40, 5), 5, "bear")
    orders = eventually(lambda: len(filled(run)) >= 2 and filled(run), timeout=60)
    put = orders[1]
    assert put["option_type"] == "put" and put["filled_qty"] == put["qty"], put
    assert run.records("signals")[1]["direction"] == "bearish"


def test_malformed_message_is_dead_lettered_and_the_next_post_is_scored(run: Run) -> None:
    run.start_worker()
    garbage = b"\xc3\x01not-a-fingerprint-or-body"
    run.send_raw("posts", b"bad-1", garbage, at(15, 1))
    run.send("posts", "Post", "good-1", post("good-1", "alice", BULLISH, at(15, 1, 1)))
    dead = eventually(lambda: run.records("deadletter"))
    assert dead[0]["payload"] == garbage
    assert dead[0]["stage"] == "score" and "fingerprint" in dead[0]["reason"]
    assert dead[0]["topic"].endswith("posts") and dead[0]["offset"] >= 0
    scores = eventually(lambda: run.records("scores"))
    assert scores[0]["post_id"] == "good-1" and scores[0]["score"] > 0

    # the worker's operations port says what it did, and that it is ready
    state = wait_ready(run.web_port, timeout=60)
    assert state is not None and state["owner"] and state["reconciled"], state
    with urllib.request.urlopen(f"http://127.0.0.1:{run.web_port}/metrics", timeout=5) as answer:
        scraped = {(m.name, tuple(sorted(m.labels.items()))): m.value
                   for family in text_string_to_metric_families(answer.read().decode())
                   for m in family.samples}
    score = (("outcome", "deadletter"), ("stage", "score"))
    assert scraped[("stocktracker_stage_records_total", score)] == 1
    assert scraped[("stocktracker_stage_records_total", (("outcome", "ok"), ("stage", "score")))] >= 1
    assert scraped[("stocktracker_account_owner", ())] == 1
    assert scraped[("stocktracker_worker_ready", ())] == 1
    lagging = {dict(labels)["topic"] for name, labels in scraped
               if name == "stocktracker_consumer_lag_messages"}
    assert any(topic.endswith("posts") for topic in lagging), lagging
    said = eventually(lambda: [m for m in run.records("metrics")  # for the dashboard
                               if m["name"] == "worker_ready" and m["value"] == 1.0], timeout=30)
    assert said[0]["labels"]["stage"] == "worker" and said[0]["labels"]["worker"]


def test_restarted_worker_recovers_windows_and_never_orders_twice(run: Run) -> None:
    run.start_worker()
    publish_chain(run, at(16, 0))
    burst(run, BULLISH, at(16, 0, 5), 3, "r")  # three posts: below the 4-post minimum
    eventually(lambda: len(run.records("sentiment")) == 3)
    assert not run.records("signals")
    run.stop_worker()

    run.start_worker(fresh_state=True)  # empty RocksDB: tables come back from changelogs
    burst(run, BULLISH, at(16, 0, 5), 2, "r", first=3)
    orders = eventually(lambda: filled(run), timeout=60)
    counted = [s["posts"] for s in run.records("sentiment")]
    assert max(counted) == 5, f"window lost or double-counted posts on restart: {counted}"
    signal = run.records("signals")[0]
    assert orders[0]["client_order_id"] == client_order_id(signal["id"])
    run.stop_worker()

    run.start_worker(fresh_state=True)
    run.send("signals", "Signal", "SPY", signal)  # the same signal, replayed
    run.send_raw("signals", b"SPY", b"sentinel: not avro", at(16, 5))
    # The worker got past the replay. A fresh worker joins, recovers every table and reconciles
    # before it takes a signal; on a loaded machine that can pass a minute (its log says
    # which step it reached: the owner logs the term, the execute agent the replay).
    eventually(lambda: run.records("deadletter"), timeout=120)
    same = [o for o in run.records("orders") if o["client_order_id"] == orders[0]["client_order_id"]]
    assert [o["status"] for o in same] == ["new", "filled"], same
