"""A local single-node Apache Kafka 4.x (KRaft) for development and tests.

The jars come from ``$KAFKA_HOME/libs`` when set, otherwise Maven resolves
``org.apache.kafka:kafka_2.13`` from Maven Central into a cache outside the repo (once).
Java 17 runs the broker in combined broker+controller mode. ``down`` stops only the
broker that ``up`` started (pid file, command line checked).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

_HOME = Path.home()
LOG4J_VERSION = "2.24.3"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stocktracker</groupId><artifactId>kafka-runtime</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{version}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j2-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""


@dataclass(frozen=True)
class KafkaLocalConfig:
    """Where and how the local broker runs."""

    version: str = "4.1.1"
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    data_dir: Path = field(default=_HOME / ".local/share/stocktracker/kafka")
    cache_dir: Path = field(default=_HOME / ".cache/stocktracker/kafka")
    kafka_home: Path | None = None
    heap: str = "512m"
    log_level: str = "WARN"

    @property
    def bootstrap(self) -> str:
        """``host:port`` of the PLAINTEXT listener."""
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        """Where ``up`` writes the broker's pid."""
        return self.data_dir / "kafka.pid"

    @property
    def properties(self) -> Path:
        """The broker's server.properties."""
        return self.data_dir / "server.properties"


def config_from_env(**overrides: Any) -> KafkaLocalConfig:
    """Config from ``KAFKA_HOME``, ``KAFKA_LOCAL_PORT``, ``KAFKA_LOCAL_CONTROLLER_PORT``,
    ``KAFKA_LOCAL_DATA_DIR``, ``KAFKA_CACHE_DIR``, ``KAFKA_VERSION``, then ``overrides``."""
    env = os.environ
    cfg = KafkaLocalConfig()
    values: dict[str, Any] = {}
    if env.get("KAFKA_HOME"):
        values["kafka_home"] = Path(env["KAFKA_HOME"])
    if env.get("KAFKA_LOCAL_PORT"):
        values["port"] = int(env["KAFKA_LOCAL_PORT"])
    if env.get("KAFKA_LOCAL_CONTROLLER_PORT"):
        values["controller_port"] = int(env["KAFKA_LOCAL_CONTROLLER_PORT"])
    if env.get("KAFKA_LOCAL_DATA_DIR"):
        values["data_dir"] = Path(env["KAFKA_LOCAL_DATA_DIR"])
    if env.get("KAFKA_CACHE_DIR"):
        values["cache_dir"] = Path(env["KAFKA_CACHE_DIR"])
    if env.get("KAFKA_VERSION"):
        values["version"] = env["KAFKA_VERSION"]
    values.update(overrides)
    return replace(cfg, **values)


def resolve_classpath(cfg: KafkaLocalConfig) -> list[Path]:
    """The broker's jars: ``$KAFKA_HOME/libs`` or a Maven-resolved cache."""
    if cfg.kafka_home is not None:
        jars = sorted((cfg.kafka_home / "libs").glob("*.jar"))
        if not jars:
            raise RuntimeError(f"KAFKA_HOME={cfg.kafka_home} has no libs/*.jar")
        return jars
    root = cfg.cache_dir / cfg.version
    libs, marker = root / "libs", root / ".resolved"
    if not marker.exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / "pom.xml").write_text(POM.format(version=cfg.version, log4j=LOG4J_VERSION))
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(root / "pom.xml"), "dependency:copy-dependencies",
             f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-3000:]
            raise RuntimeError(f"maven could not resolve Kafka {cfg.version}:\n{tail}")
        marker.write_text(cfg.version)
    return sorted(libs.glob("*.jar"))


def is_answering(bootstrap: str, timeout: float = 2.0) -> bool:
    """True if a Kafka broker answers a metadata request at ``bootstrap``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 1000,
                         "logger": _quiet_logger()})
    try:
        admin.list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def _quiet_logger() -> Any:
    import logging

    logger = logging.getLogger("stocktracker.kafka_probe")
    logger.setLevel(logging.CRITICAL)
    return logger


def _write_config(cfg: KafkaLocalConfig) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{cfg.host}:{cfg.controller_port}",
        "listeners": f"PLAINTEXT://{cfg.host}:{cfg.port},CONTROLLER://{cfg.host}:"
                     f"{cfg.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{cfg.host}:{cfg.port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(cfg.data_dir / "logs"),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "min.insync.replicas": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "log.retention.ms": "-1",
        "offsets.topic.num.partitions": "4",
    }
    cfg.properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (cfg.data_dir / "log4j2.properties").write_text(
        LOG4J2.format(log=cfg.data_dir / "kafka.log", level=cfg.log_level))


def _java(cfg: KafkaLocalConfig, main: str, *args: str) -> list[str]:
    classpath = os.pathsep.join(str(p) for p in resolve_classpath(cfg))
    return ["java", f"-Xmx{cfg.heap}", f"-Xms{cfg.heap}", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={cfg.data_dir / 'log4j2.properties'}",
            "-cp", classpath, main, *args]


def _ours(cfg: KafkaLocalConfig) -> int | None:
    try:
        pid = int(cfg.pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return None
    if "kafka.Kafka" in cmdline and str(cfg.properties) in cmdline:
        return pid
    return None


def up(cfg: KafkaLocalConfig, timeout: float = 90.0) -> int:
    """Start the broker unless one answers; wait until it does. Returns its pid (0 when a
    broker that is not ours already answers at the address)."""
    if is_answering(cfg.bootstrap, 1.0):
        return _ours(cfg) or 0
    _write_config(cfg)
    if not (cfg.data_dir / "logs" / "meta.properties").exists():
        cluster = uuid.uuid4().hex[:22]
        fmt = subprocess.run(
            _java(cfg, "kafka.tools.StorageTool", "format", "-t", cluster, "-c",
                  str(cfg.properties), "--ignore-formatted"),
            capture_output=True, text=True, check=False)
        if fmt.returncode != 0:
            raise RuntimeError(f"kafka storage format failed:\n{(fmt.stdout + fmt.stderr)[-3000:]}")
    with (cfg.data_dir / "kafka.out").open("ab") as out:
        proc = subprocess.Popen(_java(cfg, "kafka.Kafka", str(cfg.properties)), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    cfg.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kafka exited with {proc.returncode}:\n{_tail(cfg)}")
        if is_answering(cfg.bootstrap, 1.0):
            return proc.pid
        time.sleep(0.3)
    down(cfg)
    raise RuntimeError(f"kafka did not answer within {timeout}s:\n{_tail(cfg)}")


def _tail(cfg: KafkaLocalConfig) -> str:
    parts = []
    for name in ("kafka.out", "kafka.log"):
        path = cfg.data_dir / name
        if path.exists():
            parts.append(path.read_text(errors="replace")[-2000:])
    return "\n".join(parts)


def down(cfg: KafkaLocalConfig, timeout: float = 30.0) -> bool:
    """Stop the broker this module started (and nothing else)."""
    pid = _ours(cfg)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        if _zombie(pid):
            break
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists() and not _zombie(pid):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)
    cfg.pid_file.unlink(missing_ok=True)
    return True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def status(cfg: KafkaLocalConfig) -> dict[str, object]:
    """Where the broker is, whether it is ours and whether it answers."""
    pid = _ours(cfg)
    return {"bootstrap": cfg.bootstrap, "pid": pid, "running": pid is not None,
            "answering": is_answering(cfg.bootstrap, 1.0), "data_dir": str(cfg.data_dir)}
