"""Topic names and their record types."""

from __future__ import annotations

from dataclasses import dataclass

import faust

# topic -> Avro record name carried on it
RECORDS: dict[str, str] = {
    "posts": "Post",
    "scores": "Score",
    "sentiment": "Sentiment",
    "signals": "Signal",
    "orders": "Order",
    "fills": "Fill",
    "positions": "Position",
    "quotes": "Quote",
    "control": "Control",
    "metrics": "Metric",
    "deadletter": "DeadLetter",
    "ticks": "Tick",
    "switches": "Control",
    "alerts": "Alert",
}

ACCOUNT_TOPICS = frozenset({"signals", "quotes", "orders", "fills", "positions", "control",
                            "ticks", "switches"})
"""The trading topics. Each has one partition: the worker that Kafka's group
assignment gives that partition owns the account (its orders, positions, risk state,
switches and the broker's stream), and no other worker can act for it. Scoring topics
have ``KAFKA_PARTITIONS`` and scale across workers."""

SINGLE_PARTITION = ACCOUNT_TOPICS | {"alerts"}
"""Topics read in one order: the trading topics, and ``alerts`` (one history of changes)."""


def partitions_of(name: str, partitions: int) -> int:
    """Partitions of the topic ``name`` (short name) given ``KAFKA_PARTITIONS``."""
    return 1 if name in SINGLE_PARTITION else partitions


def topic_name(prefix: str, name: str) -> str:
    """The broker-side name of one of our topics."""
    return f"{prefix}{name}"


@dataclass(frozen=True)
class Topics:
    """Every topic of the pipeline, as Faust topics carrying raw Avro bytes."""

    posts: faust.TopicT
    scores: faust.TopicT
    sentiment: faust.TopicT
    signals: faust.TopicT
    orders: faust.TopicT
    fills: faust.TopicT
    positions: faust.TopicT
    quotes: faust.TopicT
    control: faust.TopicT
    metrics: faust.TopicT
    deadletter: faust.TopicT
    ticks: faust.TopicT
    switches: faust.TopicT
    alerts: faust.TopicT

    @classmethod
    def create(cls, app: faust.App, prefix: str, partitions: int, replicas: int) -> Topics:
        """Declare every topic on ``app`` (raw bytes: agents decode, so bad bytes dead-letter)."""
        made = {
            name: app.topic(
                topic_name(prefix, name),
                key_serializer="raw",
                value_serializer="raw",
                partitions=partitions_of(name, partitions),
                replicas=replicas,
                internal=True,
            )
            for name in RECORDS
        }
        return cls(**made)
