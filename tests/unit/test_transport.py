"""The worker's Kafka consumer: an ack from before the current assignment is never counted.

faust-streaming acks a message its stream skipped as fetched before a rebalance; counted in
the new assignment, that ack let a commit move past posts no agent scored and past an
operator's kill switch (``streams/transport.py``). Here the consumer Faust builds for a
worker is given such messages directly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from stocktracker.streams.core.settings import Settings
from stocktracker.streams.pipeline import Pipeline
from stocktracker.streams.transport import GuardedConsumer, broker_url


def message(topic: str, offset: int, generation: int) -> ConsumerMessage:
    return ConsumerMessage(topic, 0, offset, 0.0, 0, [], b"k", b"v", None, 1, 1,
                           TP(topic, 0), generation_id=generation)


def test_only_kafka_urls_are_redirected() -> None:
    assert broker_url("kafka://127.0.0.1:9092") == "kafka-guarded://127.0.0.1:9092"
    assert broker_url("memory://") == "memory://"


def test_acks_from_an_earlier_generation_or_a_suspended_flow_are_not_counted(
        run_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Pipeline(run_settings(), ensemble=None)
    app = pipeline.app
    consumer = app.consumer
    assert isinstance(consumer, GuardedConsumer)
    topic = pipeline.topics.posts.get_topic_name()
    tp = TP(topic, 0)
    # as once the agents subscribe (the app is not started here)
    monkeypatch.setattr(app.topics, "acks_enabled_for", lambda name: name == topic)
    app.consumer_generation_id = 7
    app.flow_control.resume()

    current = message(topic, 10, generation=7)
    assert consumer.ack(current) is True and 10 in consumer._acked[tp]

    before = message(topic, 11, generation=6)  # fetched before the rebalance
    assert consumer.ack(before) is False
    assert before.acked, "done here: the stream does not ack it again"
    assert 11 not in consumer._acked[tp], "not counted: the commit cannot move past it"

    app.flow_control.suspend()  # partitions are moving
    during = message(topic, 12, generation=7)
    assert consumer.ack(during) is False and 12 not in consumer._acked[tp]
    app.flow_control.resume()
    again = message(topic, 12, generation=7)  # read again after the rebalance
    assert consumer.ack(again) is True and 12 in consumer._acked[tp]
