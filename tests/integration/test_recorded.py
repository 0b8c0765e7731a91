"""Recorded topics on the real broker: a time range found by offsets-for-times, read back
in time order across partitions and topics, exported, and kept forever."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from stocktracker.connectors.replay.recorded import export_range, find_spans, keep_forever, read_range
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.admin import delete_topics, ensure_topics
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.topics import topic_name
from stocktracker.streams.samples import at, chain, post

pytestmark = pytest.mark.integration


def test_a_time_range_is_read_back_in_order_exported_and_kept(kafka_bootstrap: str,
                                                              tmp_path: Path) -> None:
    prefix = f"rec{uuid.uuid4().hex[:8]}."
    ensure_topics(kafka_bootstrap, prefix, 3, 1)
    codec = SingleObjectCodec()
    producer = RecordProducer(kafka_bootstrap, codec, prefix)
    try:
        # posts every 10 s from 15:00:00 to 15:09:50 keyed by id (spread over 3 partitions);
        # a chain of quotes every minute
        for n in range(60):
            event = at(15, 0) + n * 10_000_000
            producer.send("posts", "Post", f"p{n}", post(f"p{n}", f"a{n}", f"$SPY {n}", event))
        for minute in range(10):
            for quote in chain(at(15, minute), 590.0 + minute * 0.1)[:3]:
                producer.send("quotes", "Quote", "SPY", quote)
        assert producer.flush(10) == 0

        spans = find_spans(kafka_bootstrap, prefix, ("posts", "quotes"), at(15, 2), at(15, 5))
        assert sum(s.count for s in spans if s.topic == "posts") >= 18
        items = list(read_range(kafka_bootstrap, prefix, codec, at(15, 2), at(15, 5),
                                topics=("posts", "quotes", "scores")))
        posts = [i for i in items if i.topic == "posts"]
        quotes = [i for i in items if i.topic == "quotes"]
        assert [p.record["id"] for p in posts] == [f"p{n}" for n in range(12, 30)]
        assert len(quotes) == 3 * 3 and all(at(15, 2) <= q.event_us < at(15, 5) for q in quotes)
        assert [i.event_us for i in items] == sorted(i.event_us for i in items)
        # on a tie the chain comes before the post that may trade on it
        tie = [i.topic for i in items if i.event_us == at(15, 3)]
        assert tie == ["quotes"] * 3 + ["posts"]

        counts = export_range(items, tmp_path / "export")
        assert counts == {"posts": 18, "quotes": 9}
        first = json.loads((tmp_path / "export" / "posts.jsonl").read_text().splitlines()[0])
        assert first["record"]["id"] == "p12" and first["event_us"] == at(15, 2)

        names = keep_forever(kafka_bootstrap, prefix, ("posts",))
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic_name(prefix, "posts"))
        config = admin.describe_configs([resource])[resource].result(10)
        assert names == [topic_name(prefix, "posts")] and config["retention.ms"].value == "-1"

        with pytest.raises(ValueError, match="empty"):
            find_spans(kafka_bootstrap, prefix, ("posts",), at(15, 5), at(15, 2))
        with pytest.raises(ValueError, match="no recorded topic"):
            find_spans(kafka_bootstrap, "nosuchprefix.", ("posts",), at(15, 0), at(15, 1))
    finally:
        producer.close() if hasattr(producer, "close") else producer.flush(5)
        delete_topics(kafka_bootstrap, [topic_name(prefix, t) for t in ("posts", "quotes")])
