"""The Kafka side of the dashboard: a reader thread and a probe thread around a :class:`Feed`.

The reader assigns itself every partition of the run's topics (no consumer group: the
dashboard commits nothing and owns no state), from the start of ``control``,
``switches`` (the commands sent, and the owner's answer to each: see :mod:`web.commands`)
and ``alerts`` (every alert's changes: see :mod:`web.alerting`)
and from the last ``WEB_REPLAY_RECORDS`` records of the others, then follows them. Topics
that do not exist yet are looked for again until they do.
The probe asks the broker whether it answers and how far the worker's consumer group
lags (end offsets minus its committed offsets; Faust commits every
``STREAM_COMMIT_INTERVAL_S``, so the lag moves in those steps).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from stocktracker.schemas.codec import Codec, DecodeError
from stocktracker.streams.core.logs import kafka_logged
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.topics import RECORDS, topic_name
from stocktracker.streams.core.trace import now_us
from stocktracker.web.hub import Feed

log = logging.getLogger(__name__)
FULL_REPLAY = frozenset({"control", "switches", "alerts"})


class KafkaFeed(Feed):
    """A :class:`Feed` filled from the run's topics on the broker.

    Parameters
    ----------
    settings:
        Kafka (bootstrap, topic prefix), stream (the worker's group: the app id), web, and
        the signal's bullish threshold (the model skill's calls).
    codec:
        The pipeline's codec.
    info:
        Static facts for the status.
    """

    def __init__(self, settings: Settings, codec: Codec, info: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings.web, info, skill_threshold=settings.signal.bullish_threshold)
        self.health["feed"]["running"] = False
        self.bootstrap = settings.kafka.bootstrap_servers
        self.prefix = settings.kafka.topic_prefix
        self.group = settings.stream.app_id
        self.codec = codec
        self.undecodable = 0
        self._names = {topic_name(self.prefix, t): t for t in RECORDS}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the reader, the probe and the model skill (daemon threads)."""
        super().start()
        for target, name in ((self._read, "web-feed"), (self._probe_loop, "web-probe")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the threads and wait for them (a few seconds at most)."""
        self._stop.set()
        super().stop()
        for thread in self._threads:
            thread.join(10)

    # reader -----------------------------------------------------------------------------
    def _read(self) -> None:
        consumer = Consumer(kafka_logged({
            "bootstrap.servers": self.bootstrap,
            "group.id": f"web-{uuid.uuid4().hex[:8]}",  # never joined: partitions are assigned
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 20,
            "socket.nagle.disable": True,
        }))
        assigned: set[str] = set()
        next_look = 0.0
        self.health["feed"]["running"] = True
        try:
            while not self._stop.is_set():
                if len(assigned) < len(self._names) and time.monotonic() >= next_look:
                    assigned |= self._assign_new(consumer, assigned)
                    next_look = time.monotonic() + 2.0
                first = consumer.poll(0.05)  # returns as soon as one record is there
                messages = [] if first is None else [first, *consumer.consume(999, timeout=0)]
                batch = []
                for msg in messages:
                    if msg.error():
                        continue
                    topic = self._names.get(msg.topic() or "", "")
                    try:
                        batch.append((topic, self.codec.decode(RECORDS[topic], msg.value() or b"")))
                    except (DecodeError, KeyError):
                        self.undecodable += 1
                if batch:
                    self.ingest_many(batch, now_us())
        except Exception as exc:  # the page shows it; the process keeps serving the last view
            log.exception("dashboard feed stopped")
            self.health["feed"]["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self.health["feed"]["running"] = False
            consumer.close()

    def _assign_new(self, consumer: Consumer, assigned: set[str]) -> set[str]:
        try:
            metadata = consumer.list_topics(timeout=5)
        except KafkaException as exc:
            self.health["feed"]["error"] = f"metadata: {exc}"
            return set()
        self.health["feed"]["error"] = None
        found, parts = set(), []
        for full, meta in metadata.topics.items():
            if full not in self._names or full in assigned or meta.error is not None:
                continue
            try:  # a topic just created may have no leader yet: try it again next time
                marks = {pid: consumer.get_watermark_offsets(TopicPartition(full, pid), timeout=5)
                         for pid in meta.partitions}
            except KafkaException as exc:
                log.info("topic %s not readable yet: %s", full, exc)
                continue
            keep = None if self._names[full] in FULL_REPLAY else self.web.replay_records
            parts += [TopicPartition(full, pid, low if keep is None else max(low, high - keep))
                      for pid, (low, high) in marks.items()]
            found.add(full)
        if parts:
            consumer.incremental_assign(parts)
        return found

    # probe ------------------------------------------------------------------------------
    def _probe_loop(self) -> None:
        admin = AdminClient(kafka_logged({"bootstrap.servers": self.bootstrap}))
        while not self._stop.is_set():
            broker, worker = probe(admin, self.group, self._names)
            with self.lock:
                self.health["broker"], self.health["worker"] = broker, worker
            self._stop.wait(self.web.status_interval_s)


def probe(admin: AdminClient, group: str, topics: Mapping[str, str],
          timeout: float = 5.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Whether the broker answers, and the state and lag of consumer group ``group``.

    ``topics`` maps the broker-side names to ours; the lag counts only those topics.
    """
    checked = now_us() // 1000
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        return ({"connected": False, "error": str(exc), "checked_ms": checked},
                {"group": group, "state": "unknown", "members": None, "lag": None,
                 "lag_by_topic": {}, "checked_ms": checked})
    broker = {"connected": True, "error": None, "brokers": len(metadata.brokers), "checked_ms": checked}
    worker: dict[str, Any] = {"group": group, "state": "unknown", "members": None, "lag": None,
                              "lag_by_topic": {}, "checked_ms": checked}
    try:
        desc = admin.describe_consumer_groups([group])[group].result(timeout)
        worker.update(state=str(desc.state).rsplit(".", 1)[-1], members=len(desc.members))
        listed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        committed = [tp for tp in listed[group].result(timeout).topic_partitions
                     if tp.topic in topics and tp.offset >= 0]
        if committed:
            ends = admin.list_offsets({TopicPartition(tp.topic, tp.partition): OffsetSpec.latest()
                                       for tp in committed})
            by_topic: dict[str, int] = {}
            for tp in committed:
                end = ends[TopicPartition(tp.topic, tp.partition)].result(timeout).offset
                name = topics[tp.topic]
                by_topic[name] = by_topic.get(name, 0) + max(0, end - tp.offset)
            worker.update(lag=sum(by_topic.values()), lag_by_topic=by_topic)
        else:
            worker["lag"] = 0 if worker["members"] else None
    except (KafkaException, TimeoutError, KeyError) as exc:
        worker["error"] = str(exc)
    return broker, worker
