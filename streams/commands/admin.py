"""Topic administration with confluent-kafka's AdminClient."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from stocktracker.streams.core.logs import kafka_logged
from stocktracker.streams.core.topics import ACCOUNT_TOPICS, RECORDS, partitions_of, topic_name

log = logging.getLogger(__name__)


def ensure_topics(bootstrap: str, prefix: str, partitions: int, replication: int,
                  names: Iterable[str] = RECORDS, timeout: float = 30.0) -> list[str]:
    """Create the pipeline's topics that do not exist yet, and wait until every partition
    of them has a leader (until then reads and writes fail); returns the full names."""
    admin = AdminClient(kafka_logged({"bootstrap.servers": bootstrap}))
    names = list(names)
    wanted = [topic_name(prefix, n) for n in names]
    listing = admin.list_topics(timeout=timeout).topics
    existing = set(listing)
    for short in names:
        _check_account_topic(listing.get(topic_name(prefix, short)), short)
    new = [NewTopic(topic_name(prefix, n), num_partitions=partitions_of(n, partitions),
                    replication_factor=replication)
           for n in names if topic_name(prefix, n) not in existing]
    for topic, future in (admin.create_topics(new) if new else {}).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise RuntimeError(f"could not create topic {topic}: {exc}") from exc
    if new:
        _wait_for_leaders(admin, [t.topic for t in new], timeout)
    return wanted


def _check_account_topic(meta: object, short: str) -> None:
    """A trading topic made with several partitions (before one account had one owner)
    would let two workers trade one account: refuse to start on it."""
    found = len(getattr(meta, "partitions", None) or {})
    if meta is not None and short in ACCOUNT_TOPICS and found != 1:
        raise RuntimeError(
            f"topic {getattr(meta, 'topic', short)} has {found} partitions; the trading topics "
            f"({', '.join(sorted(ACCOUNT_TOPICS))}) need exactly 1 so that one worker owns the "
            "account. Delete them or use a new KAFKA_TOPIC_PREFIX (docs/operations.md).")


def _wait_for_leaders(admin: AdminClient, topics: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        listing = admin.list_topics(timeout=timeout).topics
        led = all(t in listing and listing[t].partitions
                  and all(p.leader >= 0 for p in listing[t].partitions.values()) for t in topics)
        if led:
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"topics without a leader after {timeout:.0f} s: {topics}")
        time.sleep(0.1)


def delete_topics(bootstrap: str, names: Iterable[str], timeout: float = 30.0) -> list[str]:
    """Delete topics (missing ones are ignored); returns those the broker refused to delete.

    Each name goes once: the broker refuses a whole request that names a topic twice
    (``INVALID_REQUEST``), as a run's prefix and its app id both match its record topics.
    """
    admin = AdminClient(kafka_logged({"bootstrap.servers": bootstrap}))
    existing = set(admin.list_topics(timeout=timeout).topics)
    doomed = sorted({n for n in names if n in existing})
    refused = []
    for topic, future in (admin.delete_topics(doomed) if doomed else {}).items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" not in str(exc):  # gone meanwhile: that is what was asked
                log.warning("topic %s not deleted: %s", topic, exc)
                refused.append(topic)
    return refused


def topics_with_prefix(bootstrap: str, prefix: str, timeout: float = 30.0) -> list[str]:
    """Every topic whose name starts with ``prefix`` (a run's own and its changelogs)."""
    admin = AdminClient(kafka_logged({"bootstrap.servers": bootstrap}))
    return sorted(t for t in admin.list_topics(timeout=timeout).topics if t.startswith(prefix))


def wait_for_group(bootstrap: str, group: str, timeout: float = 60.0) -> bool:
    """Wait until consumer group ``group`` is stable with members (a worker is ready)."""
    admin = AdminClient(kafka_logged({"bootstrap.servers": bootstrap}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            desc = admin.describe_consumer_groups([group])[group].result(5)
            if desc.members and str(desc.state).endswith("STABLE"):
                return True
        except (KafkaException, TimeoutError):  # coordinator still loading: ask again
            pass
        time.sleep(0.25)
    return False


def partition_holder(bootstrap: str, group: str, topic: str, partition: int = 0,
                     timeout: float = 5.0) -> str | None:
    """The client id of the group member that has ``topic[partition]`` assigned (the
    account's owner, for a trading topic), or None (no member has it, or the group is
    rebalancing)."""
    admin = AdminClient(kafka_logged({"bootstrap.servers": bootstrap}))
    try:
        desc = admin.describe_consumer_groups([group])[group].result(timeout)
    except (KafkaException, TimeoutError):
        return None
    if not str(desc.state).endswith("STABLE"):
        return None
    for member in desc.members:
        held = member.assignment.topic_partitions if member.assignment else []
        if any(tp.topic == topic and tp.partition == partition for tp in held):
            return str(member.client_id)
    return None
