"""Scale-out on the real broker: three workers, which share the scoring partitions while one
of them owns the account, make the same signals and the same orders as one worker alone,
from the same posts and quotes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stocktracker.streams.commands.admin import partition_holder
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.settings import KafkaSettings, Settings
from stocktracker.streams.core.topics import topic_name
from stocktracker.streams.samples import at, post
from tests.integration.helpers import members, quotes
from tests.waiting import eventually

pytestmark = pytest.mark.integration
BURSTS = [(at(15, 0), "bull", "$SPY breaking out, loading calls 🚀"),
          (at(15, 20), "bear", "$SPY rolling over, buying puts 📉 crash incoming"),
          (at(15, 40), "bull2", "$SPY calls printing, very bullish 🚀")]


def replay(run: Run) -> None:
    """The same day for every run: a chain, then a burst of five posts, three times.

    Each post is sent once the one before is scored: with posts spread over partitions and
    workers, scores could otherwise reach the aggregator out of event-time order, and a
    signal fires on the first window that crosses its threshold, so the order of arrival
    can move which window fires (docs/architecture.md, "Workers and ownership"). Here the
    order is the same for every run, and so must be everything that follows.
    """
    for start, tag, text in BURSTS:
        quotes(run, start, 590.0)
        for n in range(5):
            scored = len(run.records("scores"))
            run.send("posts", "Post", f"{tag}-{n}",
                     post(f"{tag}-{n}", f"{tag}-author{n}", text, start + 5_000_000 + n * 5_000_000))
            eventually(lambda before=scored: len(run.records("scores")) > before, timeout=60)


def outcome(run: Run) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The signals and the entry orders (by signal: contract, side, quantity, status)."""
    signals = eventually(lambda: len(run.records("signals")) >= len(BURSTS)
                         and sorted(s["id"] for s in run.records("signals")), timeout=120)
    entries = eventually(lambda: len(decided(run)) >= len(BURSTS) and decided(run), timeout=60)
    return signals, sorted((o["signal_id"], o["symbol"], o["side"], o["qty"], o["status"])
                           for o in entries)


def decided(run: Run) -> list[dict[str, Any]]:
    """Entry orders in their final state: filled, or refused by the risk checks."""
    return [o for o in run.orders(intent="open") if o["status"] in ("filled", "rejected")]


def test_three_workers_share_the_scoring_and_trade_as_one_worker(
        kafka_bootstrap: str, run_settings: Callable[..., Settings], tmp_path: Path) -> None:
    env = {"SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO"}
    for name in ("one", "three"):
        (tmp_path / name).mkdir()
    single = Run(run_settings(kafka_bootstrap), tmp_path / "one")
    single.worker_env.update(env)
    try:
        single.start_worker()
        replay(single)
        expected = outcome(single)
    finally:
        single.close()
    assert len(expected[0]) == len(BURSTS) and "filled" in {o[4] for o in expected[1]}, expected

    base = run_settings(kafka_bootstrap)  # three scoring partitions: one for each worker
    scaled = Run(Settings(kafka=KafkaSettings(**{**base.kafka.model_dump(), "partitions": 3}),
                          stream=base.stream), tmp_path / "three")
    scaled.worker_env.update(env)
    try:
        workers = [scaled.spawn(f"worker{n}") for n in range(3)]
        eventually(lambda: len(members(scaled)) == 3 and scaled.owner() is not None, timeout=120)
        posts = topic_name(scaled.settings.kafka.topic_prefix, "posts")
        holders = {partition_holder(kafka_bootstrap, scaled.settings.stream.app_id, posts, n)
                   for n in range(3)}
        assert len(holders) == 3 and None not in holders, "the scoring is not shared"
        replay(scaled)
        got = outcome(scaled)
        assert all(proc.poll() is None for proc in workers)
    finally:
        scaled.close()
    assert got == expected
