"""A local single-node Apache Kafka 4.x broker (KRaft, broker+controller) for dev and tests.

The jars come from ``$KAFKA_HOME/libs`` when set, otherwise Maven resolves
``org.apache.kafka:kafka_2.13`` from Maven Central into a cache outside the repo, once.
Java 17 runs ``kafka.Kafka`` detached; its output and log4j2 log go to ``data_dir/kafka.log``.
``down`` stops only the broker that ``up`` started (pid file, command line checked).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

_HOME = Path.home()
LOG4J_VERSION = "2.24.3"
_MAX_LOG_BYTES = 64 << 20

# Kafka 4.x depends on slf4j-api 1.7.x, so the log4j binding must be the slf4j 1.x one
# (log4j-slf4j-impl); with log4j-slf4j2-impl slf4j falls back to a NOP logger.
_DEP = "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version>" \
    "</dependency>"
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>local.stocktracker</groupId><artifactId>kafka-runtime</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>{deps}</dependencies>
</project>
"""

LOG4J2 = """status = warn
name = stocktracker-kafka
shutdownHook = disable
appender.out.type = Console
appender.out.name = out
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d{{ISO8601}}] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.out.ref = out
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


@dataclass(frozen=True)
class KafkaLocalConfig:
    """Where and how the local broker runs.

    Attributes
    ----------
    version : str
        ``org.apache.kafka:kafka_2.13`` version on Maven Central.
    host, port, controller_port : str, int, int
        PLAINTEXT (bootstrap) listener address and the KRaft CONTROLLER port on ``host``.
    data_dir, cache_dir : Path
        Logs, ``server.properties``, pid and ``kafka.log``; Maven-resolved jars.
    kafka_home : Path or None
        When set, use ``<kafka_home>/libs/*.jar`` instead of Maven.
    heap, log_level : str
        JVM ``-Xmx``; the broker's root log4j2 level.
    """

    version: str = "4.1.1"
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    data_dir: Path = _HOME / ".local/share/stocktracker/kafka"
    cache_dir: Path = _HOME / ".cache/stocktracker/kafka"
    kafka_home: Path | None = None
    heap: str = "512m"
    log_level: str = "INFO"

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
        """The broker's ``server.properties``."""
        return self.data_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        """The broker's stdout/stderr and log4j2 output."""
        return self.data_dir / "kafka.log"


def config_from_env(**overrides: Any) -> KafkaLocalConfig:
    """Build a config from ``KAFKA_HOME``, ``KAFKA_LOCAL_PORT``, ``KAFKA_LOCAL_CONTROLLER_PORT``,
    ``KAFKA_LOCAL_DATA_DIR``, ``KAFKA_CACHE_DIR`` and ``KAFKA_VERSION`` (when set).

    Parameters
    ----------
    **overrides
        :class:`KafkaLocalConfig` field values that win over the environment.
    """
    env = os.environ
    values: dict[str, Any] = {}
    for var, name, kind in (("KAFKA_HOME", "kafka_home", Path),
                            ("KAFKA_LOCAL_PORT", "port", int),
                            ("KAFKA_LOCAL_CONTROLLER_PORT", "controller_port", int),
                            ("KAFKA_LOCAL_DATA_DIR", "data_dir", Path),
                            ("KAFKA_CACHE_DIR", "cache_dir", Path),
                            ("KAFKA_VERSION", "version", str)):
        if env.get(var):
            values[name] = kind(env[var])
    values.update(overrides)
    return replace(KafkaLocalConfig(), **values)


def resolve_classpath(cfg: KafkaLocalConfig) -> list[Path]:
    """Return the broker's jars (sorted): ``<kafka_home>/libs/*.jar`` when ``kafka_home`` is set,
    else ``<cache_dir>/<version>/libs``, filled once by ``mvn dependency:copy-dependencies``
    (a marker holding the pom's hash makes later calls instant).

    Raises
    ------
    RuntimeError
        If ``kafka_home`` has no jars, or Maven is missing or fails (with its output's tail).
    """
    if cfg.kafka_home is not None:
        jars = sorted((cfg.kafka_home / "libs").glob("*.jar"))
        if not jars:
            raise RuntimeError(f"KAFKA_HOME={cfg.kafka_home} has no libs/*.jar")
        return jars
    root = cfg.cache_dir / cfg.version
    libs, marker = root / "libs", root / ".resolved"
    deps = [("org.apache.kafka", "kafka_2.13", cfg.version),
            ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
            ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION)]
    pom = POM.format(deps="\n    ".join(_DEP.format(*dep) for dep in deps))
    digest = hashlib.sha256(pom.encode()).hexdigest()
    if not (marker.exists() and marker.read_text().strip() == digest):
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one resolver at a time
            if not (marker.exists() and marker.read_text().strip() == digest):
                _maven(root, pom, libs)
                marker.write_text(digest)
    return sorted(libs.glob("*.jar"))


def _maven(root: Path, pom: str, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn is not on PATH; install Maven or set KAFKA_HOME")
    (root / "pom.xml").write_text(pom)
    fresh = root / "libs.new"
    shutil.rmtree(fresh, ignore_errors=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(root / "pom.xml"), "-Dstyle.color=never",
         "dependency:copy-dependencies", f"-DoutputDirectory={fresh}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(fresh.glob("*.jar")):
        tail = (result.stdout + result.stderr)[-3000:]
        raise RuntimeError(f"maven could not resolve Kafka jars into {fresh}:\n{tail}")
    old = root / "libs.old"
    shutil.rmtree(old, ignore_errors=True)
    if libs.exists():
        libs.rename(old)
    fresh.rename(libs)
    shutil.rmtree(old, ignore_errors=True)


def is_answering(bootstrap: str, timeout: float = 2.0) -> bool:
    """Tell whether a Kafka broker at ``bootstrap`` answers a metadata request within
    ``timeout`` seconds (confluent-kafka ``AdminClient.list_topics``)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("stocktracker.kafka_probe")
    quiet.setLevel(logging.CRITICAL)
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": quiet,
                            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000))}
    admin = AdminClient(conf)
    try:
        admin.list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def _write_config(cfg: KafkaLocalConfig) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    props = {
        "process.roles": "broker,controller", "node.id": "1",
        "controller.quorum.voters": f"1@{cfg.host}:{cfg.controller_port}",
        "listeners": (f"PLAINTEXT://{cfg.host}:{cfg.port},"
                      f"CONTROLLER://{cfg.host}:{cfg.controller_port}"),
        "advertised.listeners": f"PLAINTEXT://{cfg.host}:{cfg.port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(cfg.data_dir / "logs"),
        "num.partitions": "1", "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1", "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0", "auto.create.topics.enable": "true",
        "delete.topic.enable": "true", "log.retention.ms": "-1",  # we keep recordings
    }
    cfg.properties.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    (cfg.data_dir / "log4j2.properties").write_text(LOG4J2.format(level=cfg.log_level))


def _java(cfg: KafkaLocalConfig, main: str, *args: str) -> list[str]:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin/java") if java_home else shutil.which("java")
    if not java:
        raise RuntimeError("java is not on PATH (Kafka 4.x needs Java 17+)")
    classpath = os.pathsep.join(str(p) for p in resolve_classpath(cfg))
    return [java, f"-Xmx{cfg.heap}", "-Xms64m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={cfg.data_dir / 'log4j2.properties'}",
            "-cp", classpath, main, *args]


def _format(cfg: KafkaLocalConfig) -> None:
    if (cfg.data_dir / "logs" / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    fmt = subprocess.run(
        _java(cfg, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
              "-c", str(cfg.properties), "--ignore-formatted"),
        capture_output=True, text=True, check=False)
    if fmt.returncode != 0:
        raise RuntimeError(f"kafka storage format failed:\n{(fmt.stdout + fmt.stderr)[-3000:]}")


def _ours(cfg: KafkaLocalConfig) -> int | None:
    """The pid in the pid file if it is a live ``kafka.Kafka`` on our server.properties."""
    try:
        pid = int(cfg.pid_file.read_text().strip())
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except (OSError, ValueError):
        return None
    if "kafka.Kafka" in args and str(cfg.properties) in args and _alive(pid):
        return pid
    return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (reaping it first if it is our exited child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _tail(cfg: KafkaLocalConfig, start: int = 0, size: int = 3000) -> str:
    """ERROR and exception lines of the log from byte ``start`` on (the cause), then its end."""
    try:
        with cfg.log_file.open("rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
    except OSError:
        return "(no kafka.log)"
    causes = [line[:400] for line in text.splitlines() if not line.startswith("\tat ")
              and (" ERROR " in line or " FATAL " in line or "Exception: " in line)]
    return "\n".join([*causes[:10], "...", text[-size:]] if causes else [text[-size:]])


def up(cfg: KafkaLocalConfig, timeout: float = 90.0) -> int:
    """Start the broker unless one answers at ``cfg.bootstrap``; wait until it answers.

    Returns
    -------
    int
        Our broker's pid, or 0 when a broker that is not ours already answers there.

    Raises
    ------
    RuntimeError
        If the jars cannot be had, formatting fails, or the broker dies or does not answer
        within ``timeout`` seconds (then it is stopped); with the tail of ``kafka.log``.
    """
    pid = _ours(cfg)
    if is_answering(cfg.bootstrap, 1.0):
        return pid or 0
    start = 0
    if pid is None:
        _write_config(cfg)
        _format(cfg)
        if cfg.log_file.exists() and cfg.log_file.stat().st_size > _MAX_LOG_BYTES:
            cfg.log_file.replace(cfg.log_file.with_suffix(".log.1"))
        command = _java(cfg, "kafka.Kafka", str(cfg.properties))
        start = cfg.log_file.stat().st_size if cfg.log_file.exists() else 0
        with cfg.log_file.open("ab") as out:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        pid = proc.pid
        cfg.pid_file.write_text(f"{pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            cfg.pid_file.unlink(missing_ok=True)
            raise RuntimeError(f"kafka (pid {pid}) exited; {cfg.log_file} says:\n"
                               f"{_tail(cfg, start)}")
        if _listening(cfg) and is_answering(cfg.bootstrap, 1.0):
            return pid
        time.sleep(0.1)
    down(cfg)
    raise RuntimeError(f"kafka did not answer within {timeout}s; {cfg.log_file} says:\n"
                       f"{_tail(cfg, start)}")


def _listening(cfg: KafkaLocalConfig) -> bool:
    try:
        with socket.create_connection((cfg.host, cfg.port), timeout=0.5):
            return True
    except OSError:
        return False


def down(cfg: KafkaLocalConfig, timeout: float = 30.0) -> bool:
    """Stop the broker this module started, and nothing else.

    The pid file must name a live process running ``kafka.Kafka`` on this config's
    ``server.properties``; it gets SIGTERM, then SIGKILL after ``timeout`` seconds.
    A pid file naming anything else is deleted; that process is left alone.

    Returns
    -------
    bool
        True if a broker was stopped.
    """
    pid = _ours(cfg)
    if pid is None:
        cfg.pid_file.unlink(missing_ok=True)
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _alive(pid):
            break
    cfg.pid_file.unlink(missing_ok=True)
    return True


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on loopback (all bound at once, then released)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    """A free TCP port on loopback."""
    return free_ports(1)[0]


@contextlib.contextmanager
def throwaway(data_dir: Path) -> Iterator[KafkaLocalConfig]:
    """A broker of its own on free ports with its data under ``data_dir`` (benchmarks,
    tests): started on entry, stopped on exit; the data dir is left to the caller."""
    port, controller_port = free_ports(2)
    cfg = config_from_env(port=port, controller_port=controller_port, data_dir=data_dir)
    up(cfg)
    try:
        yield cfg
    finally:
        down(cfg)


def status(cfg: KafkaLocalConfig) -> dict[str, object]:
    """Describe the local broker: ``bootstrap``, ``pid`` (ours, else None), ``running`` (ours
    is alive), ``answering`` (any broker answers at ``bootstrap``) and ``data_dir``."""
    pid = _ours(cfg)
    return {"bootstrap": cfg.bootstrap, "pid": pid, "running": pid is not None,
            "answering": is_answering(cfg.bootstrap, 1.0), "data_dir": str(cfg.data_dir)}
