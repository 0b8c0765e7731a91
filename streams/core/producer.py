"""An idempotent confluent-kafka producer for the edges (connectors, replay, demo).

Delivery reports are counted; a record whose delivery failed is produced again (up to
``retries`` times), so a broker hiccup does not lose a post.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from stocktracker.schemas.codec import Codec
from stocktracker.streams.core.logs import kafka_logged
from stocktracker.streams.core.topics import topic_name

log = logging.getLogger(__name__)


class RecordProducer:
    """Encodes records with the pipeline's codec and produces them by topic name."""

    def __init__(self, bootstrap: str, codec: Codec, prefix: str = "", retries: int = 5,
                 extra: Mapping[str, Any] | None = None) -> None:
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            "socket.nagle.disable": True,
            # Topics are created by ensure_topics with the run's partitions. A producer that
            # created them would bring back a topic just deleted (librdkafka asks the broker
            # to auto-create on every metadata refresh), with the broker's default partitions.
            "allow.auto.create.topics": False,
        }
        conf.update(extra or {})
        self._producer = Producer(kafka_logged(conf))
        self.codec = codec
        self.prefix = prefix
        self.retries = retries
        self.delivered = 0
        self.failed = 0

    def send(self, topic: str, record_name: str, key: str, record: Mapping[str, Any],
             on_delivered: Callable[[], None] | None = None) -> None:
        """Encode and produce one record, timestamped with its event time.

        ``on_delivered`` is called (from :meth:`poll`) when the broker acknowledged it.
        """
        name = topic_name(self.prefix, topic)
        value = self.codec.encode(record_name, record, name)
        self.send_raw(name, key.encode(), value, int(record["event_time"]) // 1000,
                      on_delivered=on_delivered)

    def send_raw(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int,
                 attempt: int = 0, on_delivered: Callable[[], None] | None = None) -> None:
        """Produce bytes as they are; retried on a failed delivery report."""

        def report(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                self.delivered += 1
                if on_delivered is not None:
                    on_delivered()
                return
            if attempt < self.retries and err.retriable():
                log.warning("delivery to %s failed (%s); retrying", topic, err)
                self.send_raw(topic, key, value, timestamp_ms, attempt + 1, on_delivered)
            else:
                self.failed += 1
                log.error("delivery to %s failed for good: %s", topic, err)

        while True:
            try:
                self._producer.produce(topic, value=value, key=key, timestamp=timestamp_ms,
                                       on_delivery=report)
                break
            except BufferError:  # local queue full: back-pressure, wait for deliveries
                self._producer.poll(0.05)
        self._producer.poll(0)

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports."""
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        return int(self._producer.flush(timeout))
