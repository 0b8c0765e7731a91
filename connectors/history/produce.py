"""Imported posts into Kafka: kept posts to ``posts``, malformed lines to ``deadletter``.

A kept post is produced keyed by its id, with its original time as the Kafka record's
timestamp (the producer stamps ``event_time``), so that the recorded-topics reader
(:mod:`connectors.replay.recorded`) finds it in the time range it was made in. Its trace
gets ``ingest_in`` when it was read and ``ingest_out`` when it was produced (wall clock, as
a replay stamps them). A malformed line goes to ``deadletter`` in the shape live ingest
gives it (:meth:`connectors.ingest.IngestService.handle`), stage ``import``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stocktracker.connectors.base import Malformed
from stocktracker.connectors.history.posts import UnreadableFile
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.trace import now_us


@dataclass(slots=True)
class Delivery:
    """What was produced and acknowledged, per topic.

    Attributes
    ----------
    sent:
        Records produced, per topic (``posts``, ``deadletter``).
    delivered:
        Records the broker acknowledged, per topic.
    unsent:
        Records still queued when the final flush gave up.
    failed:
        Records whose delivery failed for good (after the producer's retries).
    out_of_order:
        Posts made before a post produced ahead of them (a newest-first export): a time
        range that ends before the newest of them is not found by the broker's time index.
    error:
        Why reading stopped early (a file that could not be read), or ``None``.
    """

    sent: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    unsent: int = 0
    failed: int = 0
    out_of_order: int = 0
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Every file read to its end and every record acknowledged."""
        return self.error is None and self.unsent == 0 and self.failed == 0 \
            and self.delivered == self.sent

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain JSON."""
        return {"sent": dict(self.sent), "delivered": dict(self.delivered), "unsent": self.unsent,
                "failed": self.failed, "out_of_order": self.out_of_order}


def produce_imported(items: Iterable[dict[str, Any] | Malformed], producer: RecordProducer, *,
                     clock: Callable[[], int] = now_us, flush_timeout: float = 30.0) -> Delivery:
    """Produce what :func:`connectors.history.posts.import_posts` yields, then flush.

    An :class:`~connectors.history.posts.UnreadableFile` stops the reading: what was read
    before it is still flushed, and the error is kept in :attr:`Delivery.error`.
    """
    delivery = Delivery()
    newest = 0

    def acked(topic: str) -> Callable[[], None]:
        return lambda: delivery.delivered.update((topic,))

    try:
        for item in items:
            read_us = clock()
            if isinstance(item, Malformed):
                producer.send("deadletter", "DeadLetter", item.source, dead_letter(item),
                              on_delivered=acked("deadletter"))
                delivery.sent["deadletter"] += 1
                continue
            if item["event_time"] < newest:
                delivery.out_of_order += 1
            newest = max(newest, item["event_time"])
            record = {**item, "trace": {**item["trace"], "ingest_in": read_us,
                                        "ingest_out": clock()}}
            producer.send("posts", "Post", record["id"], record, on_delivered=acked("posts"))
            delivery.sent["posts"] += 1
    except UnreadableFile as exc:
        delivery.error = str(exc)
    finally:
        delivery.unsent = producer.flush(flush_timeout)
        delivery.failed = producer.failed
    return delivery


def dead_letter(item: Malformed) -> dict[str, Any]:
    """The ``DeadLetter`` record of a malformed line (its time: the post read before it)."""
    return {"topic": f"source:{item.source}", "partition": -1, "offset": -1, "stage": "import",
            "reason": item.reason[:2000], "payload": item.payload, "key": None,
            "event_time": item.received_us, "trace": {"ingest_in": item.received_us}}
