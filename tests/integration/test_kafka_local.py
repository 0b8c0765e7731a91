"""streams.commands.kafka_local: a real single-node KRaft broker started, used, and stopped."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stocktracker.streams.commands import kafka_local
from tests.waiting import eventually

if TYPE_CHECKING:
    from confluent_kafka import Consumer

pytestmark = pytest.mark.integration


@pytest.fixture
def cfg(tmp_path: Path) -> Iterator[kafka_local.KafkaLocalConfig]:
    """A config on free ports and a temp data dir; the jars come from the shared cache."""
    port, controller_port = kafka_local.free_ports(2)
    config = kafka_local.config_from_env(port=port, controller_port=controller_port,
                                         data_dir=tmp_path / "kafka")
    yield config
    kafka_local.down(config)  # never leave a broker behind, whatever the test did


def _received(consumer: Consumer) -> tuple[bytes | None, bytes | None] | None:
    """The next message's key and value; None while there is none yet."""
    message = consumer.poll(0.5)
    return None if message is None or message.error() else (message.key(), message.value())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_roundtrip_status_down(cfg: kafka_local.KafkaLocalConfig) -> None:
    from confluent_kafka import Consumer, Producer

    started = time.monotonic()
    pid = kafka_local.up(cfg)
    print(f"up took {time.monotonic() - started:.1f}s")
    assert pid > 0 and _alive(pid)
    assert cfg.pid_file.read_text().strip() == str(pid)
    assert kafka_local.is_answering(cfg.bootstrap)

    topic = f"kafka-local-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": cfg.bootstrap})
    producer.produce(topic, key=b"k", value=b"hello kraft")
    assert producer.flush(30) == 0
    del producer  # destroyed now, so it does not log refused connections after `down`
    consumer = Consumer({"bootstrap.servers": cfg.bootstrap, "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        assert eventually(partial(_received, consumer), timeout=30, interval=0) == (b"k", b"hello kraft")
    finally:
        consumer.close()
        del consumer

    info = kafka_local.status(cfg)
    assert info == {"bootstrap": cfg.bootstrap, "pid": pid, "running": True,
                    "answering": True, "data_dir": str(cfg.data_dir)}
    assert kafka_local.up(cfg) == pid  # already answering: no second broker
    assert "INFO" in cfg.log_file.read_text()  # log4j2 writes the broker's log

    assert kafka_local.down(cfg) is True
    assert not _alive(pid)
    assert not cfg.pid_file.exists()
    assert not kafka_local.is_answering(cfg.bootstrap, timeout=1.0)
    assert kafka_local.status(cfg)["running"] is False
    assert kafka_local.down(cfg) is False  # nothing of ours left


def test_down_leaves_a_foreign_pid_alone(cfg: kafka_local.KafkaLocalConfig) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        cfg.data_dir.mkdir(parents=True)
        cfg.pid_file.write_text(f"{sleeper.pid}\n")
        assert kafka_local.down(cfg, timeout=1.0) is False
        assert sleeper.poll() is None
        assert kafka_local.status(cfg)["pid"] is None
    finally:
        sleeper.kill()
        sleeper.wait(5)


def test_kafka_home_without_jars_is_a_clear_error(tmp_path: Path) -> None:
    cfg = kafka_local.KafkaLocalConfig(kafka_home=tmp_path / "no-kafka")
    with pytest.raises(RuntimeError, match="no libs"):
        kafka_local.resolve_classpath(cfg)


def test_config_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KAFKA_LOCAL_PORT", "19092")
    monkeypatch.setenv("KAFKA_LOCAL_CONTROLLER_PORT", "19093")
    monkeypatch.setenv("KAFKA_LOCAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAFKA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KAFKA_VERSION", "4.0.0")
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    cfg = kafka_local.config_from_env(port=29092)
    assert (cfg.port, cfg.controller_port, cfg.version) == (29092, 19093, "4.0.0")
    assert (cfg.data_dir, cfg.cache_dir, cfg.kafka_home) == (
        tmp_path / "data", tmp_path / "cache", None)
    assert cfg.bootstrap == "127.0.0.1:29092"
