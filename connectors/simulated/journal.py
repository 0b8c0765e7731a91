"""Where the simulated broker keeps its account so that it outlives the process.

A real broker (Alpaca) survives our crash; the simulated one must too, so that a
``kill -9`` of the worker fails the same way on both paths. The broker's whole state
(:class:`SimState`: cash, positions, orders, resting requests, executions, id counters,
clock) goes to a :class:`Journal` as one JSON-ready dict after every change, before the
change's order update is published.

- :class:`KafkaJournal`: a compacted single-partition topic, one record per save, keyed
  by account; :meth:`KafkaJournal.load` reads it to its end and keeps the key's last value.
- :class:`MemoryJournal`: the same contract in memory (tests, a process that only needs to
  rebuild a broker from another one's saves).

Quotes are not state: the worker's quote table refills them after a restart.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from stocktracker.domain.orders import BrokerPosition, Execution, OrderRequest, OrderUpdate

STATE_VERSION = 1
KEEP_US = 7 * 24 * 3600 * 1_000_000  # done orders and executions kept this long (broker clock)


class JournalError(RuntimeError):
    """A save was not made durable (or the journal could not be read)."""


class Journal(Protocol):
    """Durable storage of one broker's state."""

    def load(self) -> dict[str, Any] | None:
        """The last state saved, or None when nothing was ever saved."""
        ...

    def save(self, state: dict[str, Any]) -> None:
        """Store ``state``; durable when this returns (raises :class:`JournalError` else)."""
        ...


@dataclass(frozen=True, slots=True)
class Resting:
    """An accepted order that has not finished filling.

    Attributes
    ----------
    request:
        What was asked.
    since_us:
        The order's event time (latency runs from it).
    fills:
        Executions made so far (the next execution id is ``<broker_order_id>.<fills + 1>``).
    """

    request: OrderRequest
    since_us: int
    fills: int = 0


@dataclass(slots=True)
class SimState:
    """Everything the simulated broker must not forget (all of it, journaled as one).

    Attributes
    ----------
    cash:
        Cash ($), which is also buying power (long options only).
    positions:
        Per OCC symbol (rows with 0 contracts may stay).
    orders:
        Each order's latest state, by client order id.
    resting:
        Orders that may still fill, by client order id.
    executions:
        Every fill, in the order made.
    orders_made:
        Broker order ids handed out (``sim-<n>``; never reused, also after a restart).
    clock_us:
        The event time the pipeline has read, µs.
    """

    cash: float
    positions: dict[str, BrokerPosition] = field(default_factory=dict)
    orders: dict[str, OrderUpdate] = field(default_factory=dict)
    resting: dict[str, Resting] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    orders_made: int = 0
    clock_us: int = 0

    def prune(self, keep_us: int = KEEP_US) -> None:
        """Forget done orders and executions older than ``keep_us`` of the broker's clock."""
        horizon = self.clock_us - keep_us
        if horizon <= 0:
            return
        self.orders = {k: o for k, o in self.orders.items() if not o.done or o.at_us >= horizon}
        self.executions = [e for e in self.executions if e.at_us >= horizon]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (shares nothing with this state)."""
        return {
            "version": STATE_VERSION,
            "cash": self.cash,
            "positions": [asdict(p) for p in self.positions.values()],
            "orders": [asdict(o) for o in self.orders.values()],
            "resting": [{"request": asdict(r.request), "since_us": r.since_us, "fills": r.fills}
                        for r in self.resting.values()],
            "executions": [asdict(e) for e in self.executions],
            "orders_made": self.orders_made,
            "clock_us": self.clock_us,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimState:
        """The state :meth:`to_dict` wrote.

        Raises
        ------
        JournalError
            When ``data`` was written by another version of this format.
        """
        if data.get("version") != STATE_VERSION:
            raise JournalError(f"simulated broker state version {data.get('version')!r}, "
                               f"expected {STATE_VERSION}")
        positions = [BrokerPosition(**p) for p in data["positions"]]
        orders = [OrderUpdate(**o) for o in data["orders"]]
        resting = {r["request"]["client_order_id"]: Resting(OrderRequest(**r["request"]),
                                                            r["since_us"], r["fills"])
                   for r in data["resting"]}
        return cls(cash=data["cash"], positions={p.symbol: p for p in positions},
                   orders={o.client_order_id: o for o in orders}, resting=resting,
                   executions=[Execution(**e) for e in data["executions"]],
                   orders_made=data["orders_made"], clock_us=data["clock_us"])


class MemoryJournal:
    """A :class:`Journal` in memory; each save is stored as JSON text, so what comes back
    from :meth:`load` went through the same encoding as on Kafka and shares nothing."""

    def __init__(self) -> None:
        self.saved: list[str] = []  # every save, oldest first

    def load(self) -> dict[str, Any] | None:
        """The last state saved, or None."""
        return json.loads(self.saved[-1]) if self.saved else None

    def save(self, state: dict[str, Any]) -> None:
        """Keep ``state``."""
        self.saved.append(json.dumps(state))


class KafkaJournal:
    """A :class:`Journal` on a compacted, single-partition Kafka topic.

    Parameters
    ----------
    bootstrap_servers:
        The Kafka cluster.
    topic:
        Created on first use when missing (``cleanup.policy=compact``, one partition).
    key:
        The account whose state this journal holds (several may share the topic).
    replication:
        Replication factor of the topic when this journal creates it.
    timeout_s:
        How long a save, a load or the topic's creation may take before failing.
    """

    MAX_BYTES = 16 * 1024 * 1024  # one state per record: room for a week of executions

    def __init__(self, bootstrap_servers: str, topic: str, key: str, *, replication: int = 1,
                 timeout_s: float = 30.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.key = key
        self.replication = replication
        self.timeout_s = timeout_s
        self._producer: Any = None
        self._lock = threading.Lock()

    def load(self) -> dict[str, Any] | None:
        """Read the topic from the beginning to its end offset; the key's last state."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

        self._ensure_topic()
        consumer = Consumer({"bootstrap.servers": self.bootstrap_servers,
                             "group.id": f"sim-journal-{self.key}", "enable.auto.commit": False,
                             "enable.partition.eof": True, "isolation.level": "read_committed"})
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0),
                                                       timeout=self.timeout_s)
            if high <= low:
                return None
            consumer.assign([TopicPartition(self.topic, 0, OFFSET_BEGINNING)])
            return self._read_to(consumer, high)
        except KafkaException as exc:
            raise JournalError(f"cannot read {self.topic}: {exc}") from exc
        finally:
            consumer.close()

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` and wait until every in-sync replica has it."""
        from confluent_kafka import KafkaException

        value = json.dumps(state, separators=(",", ":")).encode()
        failed: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failed.append(str(err))

        with self._lock:
            try:
                producer = self._producer or self._make_producer()
                producer.produce(self.topic, key=self.key.encode(), value=value,
                                 on_delivery=delivered)
                left = producer.flush(self.timeout_s)
            except (KafkaException, BufferError) as exc:
                self._producer = None
                raise JournalError(f"cannot write {self.topic}: {exc}") from exc
            if left or failed:
                self._producer = None  # a fresh producer for the next try (no stale retries)
                raise JournalError(f"state not written to {self.topic}: "
                                   f"{failed[0] if failed else 'timed out'}")

    # ---- internals --------------------------------------------------------------------------
    def _make_producer(self) -> Any:
        from confluent_kafka import Producer

        self._ensure_topic()
        self._producer = Producer({
            "bootstrap.servers": self.bootstrap_servers, "acks": "all",
            "enable.idempotence": True, "linger.ms": 0, "compression.type": "zstd",
            "message.max.bytes": self.MAX_BYTES + 65_536,
            "message.timeout.ms": int(self.timeout_s * 1000)})
        return self._producer

    def _ensure_topic(self) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        try:
            if self.topic in admin.list_topics(timeout=self.timeout_s).topics:
                return
            new = NewTopic(self.topic, num_partitions=1, replication_factor=self.replication,
                           config={"cleanup.policy": "compact",
                                   "max.message.bytes": str(self.MAX_BYTES)})
            admin.create_topics([new])[self.topic].result(self.timeout_s)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise JournalError(f"cannot create {self.topic}: {exc}") from exc

    def _read_to(self, consumer: Any, end: int) -> dict[str, Any] | None:
        from confluent_kafka import KafkaError

        key = self.key.encode()
        last: bytes | None = None
        position = -1
        while position < end - 1:
            msg = consumer.poll(self.timeout_s)
            if msg is None:
                raise JournalError(f"{self.topic} not read to offset {end} in {self.timeout_s} s")
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise JournalError(f"cannot read {self.topic}: {msg.error()}")
            position = msg.offset()
            if msg.key() == key:
                last = msg.value()  # None: a tombstone (the state was deleted)
        return json.loads(last) if last else None
