"""Running the worker locally against a real broker, for the demo, tests and benchmarks.

:func:`start_worker` and :func:`stop_process` run ``stocktracker worker`` as a subprocess;
:class:`Run` is one isolated run (its own topics and consumer group) with its workers, a
producer and a reader, as the integration stories and the benchmarks under ``bench/`` drive it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.admin import (
    delete_topics,
    ensure_topics,
    partition_holder,
    topics_with_prefix,
    wait_for_group,
)
from stocktracker.streams.commands.monitor import Monitor
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import KafkaSettings, Settings, StreamSettings
from stocktracker.streams.core.topics import topic_name

# the topics whose every record a run's reader keeps (of the others it keeps counts)
KEEP = ("scores", "sentiment", "signals", "orders", "fills", "positions", "deadletter", "metrics")


def isolated_settings(bootstrap: str, data_dir: Path, tag: str, store: str = "rocksdb://",
                      **sections: Any) -> Settings:
    """Settings for one isolated run: its own topic prefix and app id (``tag`` and a random
    suffix), data dir under ``data_dir``, Faust web port; two partitions per topic."""
    run = f"{tag}{uuid.uuid4().hex[:10]}"
    return Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"{run}.",
                                        partitions=2),
                    stream=StreamSettings(app_id=run, store=store, data_dir=data_dir / run,
                                          web_port=kafka_local.free_port()),
                    **sections)


def start_worker(settings: Settings, prefix: str, app_id: str, data_dir: Path,
                 log_path: Path, extra_env: dict[str, str] | None = None,
                 web_port: int | None = None) -> subprocess.Popen[bytes]:
    """Start ``stocktracker worker`` as a subprocess for one run (its operations port:
    ``web_port``, else a free one)."""
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": prefix,
        "KAFKA_PARTITIONS": str(settings.kafka.partitions),
        "STREAM_APP_ID": app_id,
        "STREAM_DATA_DIR": str(data_dir),
        "STREAM_WEB_PORT": str(web_port or kafka_local.free_port()),
    })
    env.update(extra_env or {})
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "stocktracker.streams.commands.cli", "worker"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """SIGTERM, then SIGKILL if it does not stop in time; False when it had to be killed
    (a killed worker does not leave its consumer group: its partitions wait for the
    session timeout)."""
    if proc.poll() is not None:
        return True
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return False
    return True


@dataclass
class Run:
    """One isolated pipeline run on the real broker: topics, a worker subprocess, a reader."""

    settings: Settings
    workdir: Path
    codec: SingleObjectCodec = field(default_factory=SingleObjectCodec)
    worker: subprocess.Popen[bytes] | None = None
    starts: int = 0
    worker_env: dict[str, str] = field(default_factory=dict)
    web_port: int = 0
    others: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = self.settings.kafka
        ensure_topics(k.bootstrap_servers, k.topic_prefix, k.partitions, k.replication)
        self.producer = RecordProducer(k.bootstrap_servers, self.codec, k.topic_prefix)
        self.monitor = Monitor(k.bootstrap_servers, self.codec, k.topic_prefix, keep=KEEP)

    def start_worker(self, fresh_state: bool = False) -> None:
        """Start the worker; ``fresh_state`` gives it an empty data dir, so its tables
        can only come back from the changelog topics. Its operations port is
        :attr:`web_port`."""
        self.starts += 1
        data_dir = self.workdir / (f"worker{self.starts}" if fresh_state else "worker")
        self.web_port = kafka_local.free_port()
        self.worker = start_worker(self.settings, self.settings.kafka.topic_prefix,
                                   self.settings.stream.app_id, data_dir,
                                   self.workdir / "worker.log", self.worker_env, self.web_port)
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


def wait_ready(port: int, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None
               ) -> dict[str, Any] | None:
    """Poll a worker's ``/ready`` on ``127.0.0.1:port`` until it answers 200 (its state),
    or ``timeout`` passes or ``proc`` exits (None)."""
    import json
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/ready"
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return dict(json.loads(answer.read()))
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.25)  # not listening yet, or 503: not ready
    return None
