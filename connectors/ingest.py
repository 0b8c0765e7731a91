"""``stocktracker ingest``: live sources → cleaning, tickers, dedup, relevance → Kafka.

Each source runs as a reader task that puts what it receives into one bounded queue
(``INGEST_BUFFER_SIZE``). When the queue is full the readers wait: back-pressure reaches
the sources (a stream is read more slowly, a poll comes later) and memory stays bounded.
One writer takes items in arrival order:

- a :class:`~connectors.base.Malformed` payload goes to ``deadletter`` with its bytes;
- a :class:`~connectors.base.RawPost` goes through the pure processing chain
  (:mod:`domain.ingest`); a kept post is produced to ``posts`` as Avro with its trace
  (``ingest_in`` at receipt, ``ingest_out`` when produced), a dropped one is counted by
  reason.

Production is the idempotent confluent producer (:mod:`streams.core.producer`): delivery
reports are served by a poller task, a failed delivery is produced again. Every
``INGEST_HEALTH_INTERVAL_S`` each source's health and the drop counters go to
``metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from stocktracker.connectors.base import Malformed, RawPost, Source
from stocktracker.domain.ingest import Processor
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import IngestSettings
from stocktracker.streams.core.trace import now_us

log = logging.getLogger(__name__)


class IngestService:
    """Sources in, posts out; see the module docstring.

    Parameters
    ----------
    settings:
        The ``INGEST_`` section.
    sources:
        The live sources (those with credentials).
    producer:
        Where records go (topic names without the prefix; the producer adds it).
    processor:
        The pure processing chain (tickers known, dedup window, relevance bar).
    clock:
        Wall-clock µs (injectable in tests).
    """

    def __init__(self, settings: IngestSettings, sources: Sequence[Source],
                 producer: RecordProducer, processor: Processor,
                 clock: Callable[[], int] = now_us) -> None:
        self.settings = settings
        self.sources = list(sources)
        self.producer = producer
        self.processor = processor
        self.clock = clock
        self.queue: asyncio.Queue[RawPost | Malformed] = asyncio.Queue(settings.buffer_size)
        self.counts: Counter[str] = Counter()
        self.ack_us: list[int] = []  # receive -> broker acknowledgement, per kept post
        self._last_posts: dict[str, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; then stop the sources, drain the queue and flush."""
        readers = [asyncio.create_task(self._read(s), name=f"ingest-{s.name}") for s in self.sources]
        writer = asyncio.create_task(self._write(), name="ingest-writer")
        poller = asyncio.create_task(self._poll(), name="ingest-poller")
        health = asyncio.create_task(self._health(), name="ingest-health")
        try:
            await stop.wait()
        finally:
            for source in self.sources:
                await source.stop()
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            await self.queue.join()
            for task in (writer, poller, health):
                task.cancel()
            await asyncio.gather(writer, poller, health, return_exceptions=True)
            self.publish_health()
            await asyncio.to_thread(self.producer.flush, 30.0)

    async def _read(self, source: Source) -> None:
        while True:
            try:
                async for item in source.items():
                    await self.queue.put(item)  # waits while the buffer is full
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a source should not raise; if it does, go on
                source.health.errors += 1
                source.health.last_error = f"{type(exc).__name__}"
                log.exception("source %s failed; restarting it in 1 s", source.name)
                await asyncio.sleep(1.0)

    async def _write(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                self.handle(item)
            except Exception:
                log.exception("ingest could not handle an item from %s", item.source)
                self.counts["errors"] += 1
            finally:
                self.queue.task_done()

    def handle(self, item: RawPost | Malformed) -> None:
        """Dead-letter, drop or produce one item (synchronous: producing does not block)."""
        if isinstance(item, Malformed):
            self.counts["malformed"] += 1
            self.producer.send("deadletter", "DeadLetter", item.source, {
                "topic": f"source:{item.source}", "partition": -1, "offset": -1,
                "stage": "ingest", "reason": item.reason[:2000], "payload": item.payload,
                "key": None, "event_time": item.received_us,
                "trace": {"ingest_in": item.received_us}})
            return
        outcome = self.processor.process(item, item.received_us)
        if not outcome.kept:
            self.counts[f"dropped_{outcome.reason}"] += 1
            return
        self.counts["kept"] += 1
        record = post_record(item, outcome.text, outcome.tickers, self.clock())
        received = item.received_us

        def acked() -> None:
            self.ack_us.append(now_us() - received)

        self.producer.send("posts", "Post", item.id, record, on_delivered=acked)

    async def _poll(self) -> None:
        while True:
            served = await asyncio.to_thread(self.producer.poll, 0.05)
            if not served:
                await asyncio.sleep(0.001)

    async def _health(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_interval_s)
            self.publish_health()

    def publish_health(self) -> None:
        """Send each source's health and the ingest counters to ``metrics``."""
        at = self.clock()
        figures: list[tuple[str, float, dict[str, str]]] = []
        for source in self.sources:
            h = source.health
            before = self._last_posts.get(source.name, 0)
            self._last_posts[source.name] = h.posts
            labels = {"source": source.name}
            figures += [
                ("source_connected", float(h.connected), labels),
                ("source_posts", float(h.posts), labels),
                ("source_posts_per_s", (h.posts - before) / self.settings.health_interval_s, labels),
                ("source_last_post_us", float(h.last_post_us), labels),
                ("source_errors", float(h.errors), labels),
                ("source_reconnects", float(h.reconnects), labels),
                ("source_rate_limited", float(h.rate_limited), labels),
                ("source_malformed", float(h.malformed), labels),
                ("source_filtered", float(h.filtered), labels),
                ("source_missing_metrics", float(h.missing_metrics), labels),
            ]
        figures += [(f"ingest_{name}", float(n), {}) for name, n in sorted(self.counts.items())]
        figures.append(("ingest_buffer_depth", float(self.queue.qsize()), {}))
        figures.append(("ingest_delivery_failed", float(self.producer.failed), {}))
        for name, value, labels in figures:
            self.producer.send("metrics", "Metric", name, {
                "name": name, "value": value, "labels": {"stage": "ingest", **labels},
                "event_time": at, "trace": {}})


def post_record(raw: RawPost, text: str, tickers: Sequence[str], out_us: int) -> dict[str, Any]:
    """The Avro ``Post`` for a kept post (cleaned text, extracted tickers)."""
    return {
        "id": raw.id, "source": raw.source, "author": raw.author, "text": text,
        "tickers": list(tickers), "followers": raw.followers, "likes": raw.likes,
        "reposts": raw.reposts, "replies": raw.replies, "url": raw.url, "lang": raw.lang or None,
        "event_time": raw.created_us,
        # post_age_us: how old the post was when it arrived (the risk check's input).
        "trace": {"ingest_in": raw.received_us, "ingest_out": out_us,
                  "post_age_us": max(0, raw.received_us - raw.created_us)},
    }


async def run_until_signalled(service: IngestService) -> None:
    """Run the service until SIGINT/SIGTERM."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await service.run(stop)


def processor_from_settings(settings: IngestSettings, tickers: Sequence[str]) -> Processor:
    """The processing chain configured from ``INGEST_`` settings and the traded tickers."""
    from stocktracker.domain.dedup import Deduplicator

    languages = frozenset(settings.languages) | {"und"}  # "und": too short to tell
    return Processor(known=frozenset(tickers), min_relevance=settings.min_relevance,
                     languages=languages,
                     dedup=Deduplicator(settings.dedup_window_s, settings.dedup_max_posts,
                                        settings.near_duplicate_threshold))
