"""``stocktracker demo``: the whole system on one machine, on a built-in trading day.

Starts Kafka if none answers, the worker (a subprocess), the replay of a generated day
(posts and option quotes of every demo underlying: SPY and QQQ by default) once the worker
answers ready on its operations port, and a live display; cleans up everything it started.
The worker trades the demo's underlyings besides ``SIGNAL_TICKERS``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from stocktracker.connectors.replay.runner import run_replay
from stocktracker.connectors.simulated.market import day_items
from stocktracker.domain.market_day import DEFAULT_UNDERLYINGS, MarketDay, generate_market_day
from stocktracker.domain.market_hours import MarketCalendar, Session
from stocktracker.schemas.codec import make_codec
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.admin import (
    delete_topics,
    ensure_topics,
    topics_with_prefix,
    wait_for_group,
)
from stocktracker.streams.commands.local_run import start_worker, stop_process, wait_ready
from stocktracker.streams.commands.monitor import Monitor
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import Settings

DEMO_UNDERLYINGS = ("SPY", "QQQ")
"""What the demo generates and trades unless told otherwise."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``stocktracker demo`` was asked to do."""

    duration: float | None = None
    report: Path | None = None
    speed: float | None = None
    seed: int = 7
    day: date | None = None
    keep_topics: bool = False
    live: bool = True
    underlyings: tuple[str, ...] = DEMO_UNDERLYINGS


def run_demo(settings: Settings, options: DemoOptions) -> dict[str, Any]:
    """Run the demo and return (and optionally write) its report."""
    kafka = settings.kafka
    cfg = kafka_local.config_from_env()
    started_kafka = False
    if not kafka_local.is_answering(kafka.bootstrap_servers):
        if kafka.bootstrap_servers != cfg.bootstrap:
            raise RuntimeError(f"no broker at KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap_servers}")
        print(f"starting a local Kafka broker at {cfg.bootstrap} ...", flush=True)
        kafka_local.up(cfg)
        started_kafka = True
    run_id = f"demo{int(time.time())}"
    prefix = f"{run_id}."
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-demo-"))
    session = demo_session(MarketCalendar(settings.risk.exchange), options.day)
    if session is None:
        raise RuntimeError(f"{options.day} is not a trading session")
    day_s = (session.close_us - session.open_us) / 1e6
    speed = options.speed or (min(max(day_s / options.duration, 1.0), 200.0)
                              if options.duration else 60.0)
    day = demo_day(session, options.seed, options.underlyings)
    tickers = dict.fromkeys((*settings.signal.tickers, *options.underlyings))
    codec = make_codec(settings.stream.schema_registry_url)
    worker = None
    stop = threading.Event()
    monitor = None
    try:
        ensure_topics(kafka.bootstrap_servers, prefix, kafka.partitions, kafka.replication)
        port = kafka_local.free_port()
        worker = start_worker(settings, prefix, run_id, workdir / "worker", workdir / "worker.log",
                              {"SIGNAL_TICKERS": ",".join(tickers)}, web_port=port)
        if not wait_for_group(kafka.bootstrap_servers, run_id, timeout=90):
            raise RuntimeError(f"worker did not join; see {workdir / 'worker.log'}")
        # The replay starts once the worker is ready (tables recovered, reconciled), so the
        # report measures the pipeline, not the worker's start-up.
        if wait_ready(port, timeout=120, proc=worker) is None:
            print("the worker did not report ready in 120 s; replaying anyway "
                  "(the first latencies include its start-up)", flush=True)
        monitor = Monitor(kafka.bootstrap_servers, codec, prefix)
        producer = RecordProducer(kafka.bootstrap_servers, codec, prefix)
        replayed: dict[str, int] = {}
        replay = threading.Thread(
            target=lambda: replayed.update(run_replay(day_items(day), producer, speed, stop)),
            daemon=True)
        replay.start()
        _watch(monitor, replay, options, speed, session.day, stop)
    finally:
        stop.set()
        if worker is not None:
            stop_process(worker)
        if monitor is not None:
            monitor.close()
        if not options.keep_topics:
            delete_topics(kafka.bootstrap_servers,
                          topics_with_prefix(kafka.bootstrap_servers, prefix)
                          + topics_with_prefix(kafka.bootstrap_servers, run_id))
        if started_kafka:
            kafka_local.down(cfg)
        shutil.rmtree(workdir, ignore_errors=True)
    report = monitor.report()
    report.update(run_id=run_id, day=session.day.isoformat(), speed=speed, seed=options.seed)
    if options.report:
        options.report.write_text(json.dumps(report, indent=2, default=_nan_safe) + "\n")
    return report


def demo_session(calendar: MarketCalendar, day: date | None) -> Session | None:
    """``day``'s session (None: not one), or the last session before today."""
    return calendar.session_on(day) if day else calendar.previous_session(datetime.now(UTC).date())


def demo_underlyings(text: str) -> tuple[str, ...]:
    """Comma-separated tickers, each once, every one a generated market's; ValueError names
    the unknown ones (or says the list is empty)."""
    tickers = tuple(dict.fromkeys(t.strip().upper() for t in text.split(",") if t.strip()))
    known = {u.ticker for u in DEFAULT_UNDERLYINGS}
    unknown = [t for t in tickers if t not in known]
    if unknown or not tickers:
        raise ValueError(f"no generated market for {unknown or text!r}; choose from {sorted(known)}")
    return tickers


def demo_day(session: Session, seed: int, underlyings: tuple[str, ...] = DEMO_UNDERLYINGS
             ) -> MarketDay:
    """The generated day of ``session`` (posts and option quotes of ``underlyings``, any of
    :data:`domain.market_day.DEFAULT_UNDERLYINGS`) that the demo, and
    ``stocktracker replay-day``, replay. ValueError names an unknown underlying."""
    demo_underlyings(",".join(underlyings))  # refuses unknown ones
    specs = {u.ticker: u for u in DEFAULT_UNDERLYINGS}
    return generate_market_day(datetime.fromtimestamp(session.open_us / 1e6, UTC),
                               datetime.fromtimestamp(session.close_us / 1e6, UTC), seed=seed,
                               underlyings=[specs[t] for t in underlyings],
                               quote_every_s=15.0, strikes_each_side=3)


def _nan_safe(value: object) -> object:
    return None


DRAIN_IDLE_S = 5.0  # the pipeline has finished when nothing new arrives for this long
DRAIN_MAX_S = 30.0


def _progress(monitor: Monitor) -> int:
    return sum(n for topic, n in monitor.counts.items() if topic != "metrics")


def _watch(monitor: Monitor, replay: threading.Thread, options: DemoOptions, speed: float,
           day: date, stop: threading.Event) -> None:
    """Show the run until the replay ends (or ``--duration``: the replay is stopped), then
    until what was replayed has gone through the pipeline, so the report is complete."""
    from stocktracker.streams.commands.display import live_display

    started = time.monotonic()
    idle_since: float | None = None
    seen = 0
    with live_display(enabled=options.live) as refresh:
        while True:
            monitor.poll(0.2)
            # progress is the pipeline's records; metrics keep coming while it is idle
            progress = _progress(monitor)
            read, seen = progress - seen, progress
            elapsed = time.monotonic() - started
            refresh(monitor, elapsed, speed, day)
            if options.duration is not None and elapsed >= options.duration:
                stop.set()
            if replay.is_alive():
                continue
            if read:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            drained = idle_since is not None and time.monotonic() - idle_since > DRAIN_IDLE_S
            if drained or (options.duration is not None
                           and elapsed >= options.duration + DRAIN_MAX_S):
                return
