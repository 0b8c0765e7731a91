"""Reading what a chaos run leaves in Kafka: a table as its changelog holds it, the app's
consumer group (its members, the account's owner and the owner's standby), and when a
record was emitted (its trace stamps)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.topics import topic_name


def changelog(bootstrap: str, topic: str) -> list[tuple[Any, Any]]:
    """Every record of a table's changelog, each partition in order (Faust writes JSON keys
    and values; None is a deletion)."""
    return [(json.loads(key or "null"), json.loads(value) if value else None)
            for _, _, key, value in read_topic(bootstrap, topic)]


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


def lost_posts(run: Run, ids: set[str]) -> list[str]:
    """Where each post of ``ids`` is, read from Kafka itself (not the monitor): its partition
    and offset on ``posts``, the app's committed offset there, and whether ``scores`` holds
    a score of it."""
    from confluent_kafka import Consumer, TopicPartition

    prefix, bootstrap = run.settings.kafka.topic_prefix, run.settings.kafka.bootstrap_servers
    posts, scores = topic_name(prefix, "posts"), topic_name(prefix, "scores")
    where = {k: (p, o) for p, o, k, _ in read_topic(bootstrap, posts) if k in ids}
    scored = set()
    for _, _, _, value in read_topic(bootstrap, scores):
        record = run.codec.decode("Score", value)
        if record["post_id"] in ids:
            scored.add(record["post_id"])
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": run.settings.stream.app_id,
                      "enable.auto.commit": False})
    try:
        committed = {tp.partition: tp.offset for tp in group.committed(
            [TopicPartition(posts, p) for p in {p for p, _ in where.values()}], timeout=10)}
    finally:
        group.close()
    return [f"post {pid}: " + (f"{posts}[{where[pid][0]}]@{where[pid][1]}, the app committed "
                               f"{committed.get(where[pid][0])}" if pid in where else
                               "not on the posts topic")
            + (", scored on the topic (the monitor missed it)" if pid in scored else ", no score")
            for pid in sorted(ids)]


def read_topic(bootstrap: str, topic: str) -> list[tuple[int, int, str, bytes]]:
    """Every record of ``topic``: partition, offset, key (text) and value bytes."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    out: list[tuple[int, int, str, bytes]] = []
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
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if error is None:
                out.append((partition, offset, (msg.key() or b"").decode(), msg.value() or b""))
            if error is not None or offset >= ends[partition][1] - 1:
                left.discard(partition)
    finally:
        consumer.close()
    return out
