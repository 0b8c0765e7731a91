"""Reading what a chaos run leaves in Kafka: a table as its changelog holds it, the app's
consumer group (its members, the account's owner and the owner's standby), and when a
record was emitted (its trace stamps)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from streams.topics import topic_name
from tests.integration.helpers import Run


def changelog(bootstrap: str, topic: str) -> list[tuple[Any, Any]]:
    """Every record of a table's changelog, each partition in order (Faust writes JSON keys
    and values; None is a deletion)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    records: list[tuple[Any, Any]] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions or {}
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in partitions}
        left = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in left])
        while left:
            msg = consumer.poll(10)
            error = msg.error() if msg is not None else None
            if msg is None or (error is not None and error.code() != KafkaError._PARTITION_EOF):
                raise RuntimeError(f"{topic} not read to its end: {error}")
            value = msg.value()
            if error is None:
                records.append((json.loads(msg.key() or b"null"),
                                json.loads(value) if value else None))
            if error is not None or (msg.offset() or 0) >= ends[msg.partition() or 0][1] - 1:
                left.discard(msg.partition() or 0)
    finally:
        consumer.close()
    return records


def table_state(bootstrap: str, topic: str) -> dict[str, Any]:
    """A table as its changelog holds it now."""
    return {k: v for k, v in dict(changelog(bootstrap, topic)).items() if v is not None}


@dataclass(frozen=True)
class GroupView:
    """The app's consumer group as Kafka describes it: the members' pids; the owner, which
    holds partition 0 of ``signals``; the standby, which holds partition 0 of the positions
    table's changelog without it (Faust puts a standby replica's changelog partitions in
    its member's assignment). Owner and standby are None while the group rebalances."""

    members: frozenset[int] = frozenset()
    owner: int | None = None
    standby: int | None = None


def group_view(run: Run) -> GroupView:
    from confluent_kafka.admin import AdminClient

    group, prefix = run.settings.stream.app_id, run.settings.kafka.topic_prefix
    admin = AdminClient({"bootstrap.servers": run.settings.kafka.bootstrap_servers})
    try:
        desc = admin.describe_consumer_groups([group])[group].result(5)
    except Exception:
        return GroupView()

    def holders(topic: str) -> list[int]:
        return [pid_of(m.client_id) for m in desc.members if any(
            tp.topic == topic and tp.partition == 0
            for tp in (m.assignment.topic_partitions if m.assignment else []))]

    members = frozenset(pid_of(m.client_id) for m in desc.members)
    if not str(desc.state).endswith("STABLE"):
        return GroupView(members)
    owner = next(iter(holders(topic_name(prefix, "signals"))), None)
    standby = next((p for p in holders(f"{group}-positions-changelog") if p != owner), None)
    return GroupView(members, owner, standby)


def pid_of(client_id: object) -> int:
    """A worker's pid from its Kafka client id (``<app>-...-<pid>``)."""
    return int(str(client_id).rsplit("-", 1)[-1])


def stamp(record: dict[str, Any]) -> int:
    """When its producer emitted a record: its latest trace stamp (µs, wall clock)."""
    return max((int(v) for v in (record.get("trace") or {}).values()), default=0)
