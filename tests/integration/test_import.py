"""``stocktracker import posts`` into a real broker: the kept posts on `posts` at their
original times, the malformed lines on `deadletter`, the same ids on a second import, and
the recorded-range reader finding them.

Counts as in tests/unit/test_post_import.py (minimum relevance 0.25, tickers SPY and QQQ)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, TopicPartition

from stocktracker.connectors.base import RawPost
from stocktracker.connectors.history.formats import read_posts
from stocktracker.connectors.replay.recorded import read_range
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.cli import main
from stocktracker.streams.core.topics import topic_name
from tests.waiting import eventually

pytestmark = pytest.mark.integration

HISTORY = Path(__file__).resolve().parents[1] / "resources" / "history"
FILES = [HISTORY / n for n in ("x_search.jsonl", "reddit_submissions.ndjson",
                               "reddit_comments.ndjson", "posts.csv")]
KEPT = 6 + 4 + 4 + 2  # the CSV's first row repeats tweet 101: a duplicate in one import
MALFORMED = 6 + 6 + 2 + 8


def read_topic(bootstrap: str, topic: str, expected: int) -> list[tuple[str, int, dict[str, Any]]]:
    """(key, Kafka timestamp ms, decoded record) of every record of a topic, once it holds
    ``expected`` of them."""
    codec = SingleObjectCodec()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        got: list[tuple[str, int, dict[str, Any]]] = []

        def enough() -> bool:
            for msg in consumer.consume(500, timeout=0.2):
                if msg.error() is None:
                    record = codec.decode("DeadLetter" if "deadletter" in topic else "Post",
                                          msg.value() or b"", topic)
                    got.append(((msg.key() or b"").decode(), msg.timestamp()[1], record))
            return len(got) >= expected

        eventually(enough, timeout=30)
        return got
    finally:
        consumer.close()


def created_times() -> dict[str, int]:
    return {item.id: item.created_us for path in FILES for item in read_posts(path)
            if isinstance(item, RawPost)}


def test_imported_posts_land_at_their_original_times_and_again_with_the_same_ids(
        kafka_bootstrap: str) -> None:
    prefix = f"import{uuid.uuid4().hex[:8]}."
    ensure_topics(kafka_bootstrap, prefix, 2, 1)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC_PREFIX": prefix,
           "KAFKA_PARTITIONS": "2", "INGEST_MIN_RELEVANCE": "0.25"}
    args = ["import", "posts", "--tickers", "SPY,QQQ", *map(str, FILES)]
    try:
        first = CliRunner().invoke(main, args, env=env)
        assert first.exit_code == 0, first.output
        summary = json.loads(next(line for line in first.output.splitlines()
                                  if line.startswith('{"sent"')))
        assert summary["delivered"] == {"posts": KEPT, "deadletter": MALFORMED}
        assert summary["unsent"] == summary["failed"] == 0
        assert summary["out_of_order"] == 12  # newest-first X pages, files not in time order
        assert "12 posts came after newer ones" in first.output
        total = next(line for line in first.output.splitlines() if line.startswith("total"))
        assert total.split()[1:4] == [str(21 + 16 + 12 + 18), str(KEPT), str(MALFORMED)]

        posts = read_topic(kafka_bootstrap, topic_name(prefix, "posts"), KEPT)
        assert len(posts) == KEPT
        created = created_times()
        for key, ts_ms, record in posts:
            assert key == record["id"]
            assert record["event_time"] == created[key]
            assert ts_ms == record["event_time"] // 1000
        assert len({key for key, _, _ in posts}) == KEPT

        dead = read_topic(kafka_bootstrap, topic_name(prefix, "deadletter"), MALFORMED)
        assert len(dead) == MALFORMED and {r["stage"] for _, _, r in dead} == {"import"}
        per_file = Counter(r["reason"].split(":")[0] for _, _, r in dead)
        assert per_file == {"x_search.jsonl": 6, "reddit_submissions.ndjson": 6,
                            "reddit_comments.ndjson": 2, "posts.csv": 8}
        reasons = {r["reason"] for _, _, r in dead}
        assert "reddit_submissions.ndjson: line 8: bad field: score is not an integer" in reasons
        assert "posts.csv: line 14: 1 fields where the header has 4" in reasons

        # the recorded-range reader finds them by their Kafka timestamps (a range that ends
        # after the newest post: the posts are not in time order on the partitions)
        low = min(r["event_time"] for _, _, r in posts)
        high = max(r["event_time"] for _, _, r in posts)
        found = list(read_range(kafka_bootstrap, prefix, SingleObjectCodec(), low, high + 1000,
                                topics=("posts",)))
        assert sorted(i.key for i in found) == sorted(key for key, _, _ in posts)

        again = CliRunner().invoke(main, args, env=env)
        assert again.exit_code == 0, again.output
        both = read_topic(kafka_bootstrap, topic_name(prefix, "posts"), 2 * KEPT)
        assert len(both) == 2 * KEPT
        assert Counter(key for key, _, _ in both) == {key: 2 for key, _, _ in posts}
        stamps = {(key, ts) for key, ts, _ in both}
        assert stamps == {(key, ts) for key, ts, _ in posts}  # same id, same time
    finally:
        delete_topics(kafka_bootstrap, topics_with_prefix(kafka_bootstrap, prefix))
