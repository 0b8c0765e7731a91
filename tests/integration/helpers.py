"""Building blocks for integration stories: a worker on the real broker, posts, chains."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from connectors.replay.runner import run_replay
from connectors.simulated.market import day_items
from domain.market_hours import MarketCalendar
from domain.pricing import bs_price, implied_vol_skew, occ_symbol, year_fraction_us
from domain.synthetic import generate_day
from schemas.codec import SingleObjectCodec
from streams.admin import (
    delete_topics,
    ensure_topics,
    partition_holder,
    topics_with_prefix,
    wait_for_group,
)
from streams.demo import start_worker, stop_process
from streams.monitor import Monitor
from streams.producer import RecordProducer
from streams.settings import Settings
from streams.topics import topic_name
from streams.trace import now_us
from tests.conftest import eventually

CLOSE = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
KEEP = ("scores", "sentiment", "signals", "orders", "fills", "positions", "deadletter", "metrics")


def at(hour: int, minute: int, second: int = 0) -> int:
    """µs of a UTC time on the test day (2026-11-24)."""
    return int(datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC).timestamp() * 1e6)


def post(pid: str, author: str, text: str, event_us: int) -> dict[str, Any]:
    """A Post record as a connector would produce it."""
    return {"id": pid, "source": "test", "author": author, "text": text, "tickers": [],
            "followers": 100, "likes": 5, "reposts": 1, "replies": 1, "url": None,
            "lang": "en", "event_time": event_us, "trace": {"ingest_in": now_us()}}


def chain(event_us: int, spot: float = 590.0, underlying: str = "SPY") -> list[dict[str, Any]]:
    """The underlying's quote and a 0DTE chain around ``spot`` at ``event_us``."""
    close_us = int(CLOSE.timestamp() * 1e6)
    expiry = CLOSE.date()
    quotes = [{"symbol": underlying, "underlying": underlying, "bid": spot - 0.01,
               "ask": spot + 0.01, "bid_size": 100, "ask_size": 100, "option_type": None,
               "strike": None, "expiry": None, "iv": None, "delta": None,
               "event_time": event_us, "trace": {}}]
    t = year_fraction_us(event_us, close_us)
    for strike in range(int(spot) - 3, int(spot) + 4):
        iv = implied_vol_skew(spot, strike, 0.15)
        for kind in ("call", "put"):
            price = bs_price(spot, strike, t, iv, 0.04, kind)
            quotes.append({
                "symbol": occ_symbol(underlying, expiry, kind, strike),
                "underlying": underlying, "bid": round(price - 0.02, 2),
                "ask": round(price + 0.02, 2), "bid_size": 10, "ask_size": 10,
                "option_type": kind, "strike": float(strike), "expiry": expiry.isoformat(),
                "iv": iv, "delta": None, "event_time": event_us, "trace": {}})
    return quotes


@dataclass
class Run:
    """One isolated pipeline run on the real broker: topics, a worker subprocess, a reader."""

    settings: Settings
    workdir: Path
    codec: SingleObjectCodec = field(default_factory=SingleObjectCodec)
    worker: subprocess.Popen[bytes] | None = None
    starts: int = 0
    worker_env: dict[str, str] = field(default_factory=dict)
    others: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self.settings.kafka
        ensure_topics(k.bootstrap_servers, k.topic_prefix, k.partitions, k.replication)
        self.producer = RecordProducer(k.bootstrap_servers, self.codec, k.topic_prefix)
        self.monitor = Monitor(k.bootstrap_servers, self.codec, k.topic_prefix, keep=KEEP)

    def start_worker(self, fresh_state: bool = False) -> None:
        """Start the worker; ``fresh_state`` gives it an empty data dir, so its tables
        can only come back from the changelog topics."""
        self.starts += 1
        data_dir = self.workdir / (f"worker{self.starts}" if fresh_state else "worker")
        self.worker = start_worker(self.settings, self.settings.kafka.topic_prefix,
                                   self.settings.stream.app_id, data_dir,
                                   self.workdir / "worker.log", self.worker_env)
        assert wait_for_group(self.settings.kafka.bootstrap_servers,
                              self.settings.stream.app_id, 90), self.log_tail()

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        """Start one more worker process ``name`` (its own data dir and log); it is stopped
        by :meth:`close`."""
        proc = start_worker(self.settings, self.settings.kafka.topic_prefix,
                            self.settings.stream.app_id, self.workdir / name,
                            self.workdir / f"{name}.log",
                            self.worker_env)
        self.others[name] = proc
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """``kill -9`` a worker (its process group): no goodbye to the group, no flush."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def kill_worker(self) -> None:
        """``kill -9`` the main worker."""
        assert self.worker is not None
        self.kill(self.worker)
        self.worker = None

    def owner(self) -> str | None:
        """The client id of the worker that owns the account now (None: nobody, yet)."""
        k = self.settings.kafka
        return partition_holder(k.bootstrap_servers, self.settings.stream.app_id,
                                topic_name(k.topic_prefix, "signals"))

    def owner_pid(self, timeout: float = 60.0) -> int:
        """The pid of the worker owning the account, once there is one."""
        holder = eventually(self.owner, timeout=timeout)
        return int(holder.rsplit("-", 1)[-1])

    def stop_worker(self) -> None:
        """Stop the worker gracefully (SIGTERM) and wait for it."""
        assert self.worker is not None
        started = time.monotonic()
        if not stop_process(self.worker):
            with (self.workdir / "worker.log").open("a") as log:
                log.write(f"[harness] worker {self.worker.pid} ignored SIGTERM for "
                          f"{time.monotonic() - started:.0f} s and was killed\n")
        self.worker = None

    def send(self, topic: str, record_name: str, key: str, record: dict[str, Any]) -> None:
        """Produce one record and wait for the broker's acknowledgement."""
        self.producer.send(topic, record_name, key, record)
        assert self.producer.flush(10) == 0

    def send_raw(self, topic: str, key: bytes, value: bytes, event_us: int) -> None:
        """Produce bytes as they are (malformed input)."""
        self.producer.send_raw(topic_name(self.settings.kafka.topic_prefix, topic), key,
                               value, event_us // 1000)
        assert self.producer.flush(10) == 0

    def records(self, topic: str) -> list[dict[str, Any]]:
        """Everything read so far from ``topic`` (reads what is new first)."""
        self.monitor.poll(0.2)
        return self.monitor.records[topic]

    def orders(self, **match: Any) -> list[dict[str, Any]]:
        """The ``orders`` records read so far whose fields equal ``match``."""
        return [o for o in self.records("orders") if all(o.get(k) == v for k, v in match.items())]

    def log_tail(self) -> str:
        """The end of each worker's log, for failure messages."""
        tails = []
        for path in sorted(self.workdir.glob("*.log")):
            tails.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(tails)

    def close(self) -> None:
        """Stop everything and delete the run's topics."""
        for proc in [self.worker, *self.others.values()]:
            if proc is not None:
                stop_process(proc)
        self.monitor.close()
        k = self.settings.kafka
        delete_topics(k.bootstrap_servers,
                      topics_with_prefix(k.bootstrap_servers, k.topic_prefix)
                      + topics_with_prefix(k.bootstrap_servers, self.settings.stream.app_id))
        shutil.rmtree(self.workdir / "worker", ignore_errors=True)


def record_morning(bootstrap: str, prefix: str, day: date, hours: float, seed: int = 7
                   ) -> dict[str, int]:
    """Generate ``day``'s first ``hours`` of posts and quotes and produce them into the
    topics under ``prefix`` (a recording); the count per topic."""
    session = MarketCalendar().session_on(day)
    assert session is not None, day
    generated = generate_day(datetime.fromtimestamp(session.open_us / 1e6, UTC),
                             datetime.fromtimestamp(session.close_us / 1e6, UTC), seed=seed,
                             quote_every_s=15.0, strikes_each_side=6)
    end_us = session.open_us + int(hours * 3600 * 10**6)
    producer = RecordProducer(bootstrap, SingleObjectCodec(), prefix)
    return run_replay([i for i in day_items(generated) if i.event_us < end_us], producer,
                      speed=0)
