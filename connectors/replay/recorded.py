"""Recorded topics: keep them, find a time range in them, export it, replay it.

Recording is keeping the topics (``posts``, ``scores``, ``quotes``). A time range
``[from_us, to_us)`` is found per partition with the broker's offsets-for-times index (the
first offset whose record timestamp is at or after the time; producers stamp records with
their event time), then read up to the end offset, decoded, and merged across partitions
and topics by timestamp. Ties keep quotes first, then posts, then scores, so a post always
finds the chain of its moment (as the simulated market orders them).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from stocktracker.connectors.replay.source import ReplayItem
from stocktracker.schemas.codec import Codec, DecodeError
from stocktracker.streams.core.topics import RECORDS, topic_name

T = TypeVar("T")
RECORDED = ("quotes", "posts", "scores")
"""What a recording keeps, in tie-break order."""
_END = -1  # confluent-kafka's OFFSET_END answer of offsets_for_times past the last record


@dataclass(frozen=True, slots=True)
class Span:
    """The offsets of one partition that hold the time range: ``[start, end)``."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def count(self) -> int:
        """Records in the span."""
        return max(self.end - self.start, 0)


def _consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"recorded-{uuid.uuid4().hex[:8]}",
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "enable.partition.eof": True})


def find_spans(bootstrap: str, prefix: str, topics: Iterable[str], from_us: int, to_us: int,
               timeout: float = 10.0) -> list[Span]:
    """Per partition of each topic, the offsets of records stamped in ``[from_us, to_us)``.

    Raises
    ------
    ValueError
        When the range is empty or a topic does not exist.
    """
    if to_us <= from_us:
        raise ValueError("the range is empty: --to must be after --from")
    consumer = _consumer(bootstrap)
    try:
        spans = []
        listing = consumer.list_topics(timeout=timeout)
        for short in topics:
            name = topic_name(prefix, short)
            meta = listing.topics.get(name)
            if meta is None or meta.error is not None:
                raise ValueError(f"no recorded topic {name!r}")
            for partition in sorted(meta.partitions):
                first, last = _offsets_at(consumer, name, partition, (from_us, to_us), timeout)
                spans.append(Span(short, partition, first, last))
        return spans
    finally:
        consumer.close()


_TRANSIENT = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                        KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TIMED_OUT})


def _retrying(call: Callable[[], T], timeout: float) -> T:
    """``call()``, asked again while the broker answers with a passing error (a partition
    whose leader is being elected: a topic just created, a broker restarting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            transient = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in _TRANSIENT)
            if not transient or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _offsets_at(consumer: Consumer, name: str, partition: int, times_us: tuple[int, int],
                timeout: float) -> tuple[int, int]:
    low, high = _retrying(lambda: consumer.get_watermark_offsets(
        TopicPartition(name, partition), timeout=timeout), timeout)
    found = []
    # Timestamps are whole ms: the start rounds down, the end up (a record stamped in the
    # range's last, partial ms is inside it; read_range drops what lies past ``to_us``)
    for t_ms in (times_us[0] // 1000, -(-times_us[1] // 1000)):
        asked = [TopicPartition(name, partition, t_ms)]
        [tp] = _retrying(partial(consumer.offsets_for_times, asked, timeout=timeout), timeout)
        found.append(high if tp.offset == _END or tp.offset < 0 else tp.offset)
    return max(found[0], low), max(found[1], low)


def read_range(bootstrap: str, prefix: str, codec: Codec, from_us: int, to_us: int,
               topics: Iterable[str] = RECORDED, timeout: float = 10.0) -> Iterator[ReplayItem]:
    """The recorded records of ``[from_us, to_us)`` in time order (see the module doc).

    A record that does not decode is yielded with ``record_name`` ``"_undecodable"`` and
    its raw bytes under ``record["_raw"]``, so a replay can dead-letter it in place.
    """
    order = {t: n for n, t in enumerate(RECORDED)}
    spans = [s for s in find_spans(bootstrap, prefix, topics, from_us, to_us, timeout) if s.count]
    items = [item for span in spans for item in _read_span(bootstrap, prefix, codec, span, timeout)
             if from_us <= item.event_us < to_us]  # timestamps need not rise within a partition
    # stable: within one partition the offset order stays
    items.sort(key=lambda item: (item.event_us, order.get(item.topic, len(order))))
    return iter(items)


def _read_span(bootstrap: str, prefix: str, codec: Codec, span: Span,
               timeout: float) -> list[ReplayItem]:
    name = topic_name(prefix, span.topic)
    consumer = _consumer(bootstrap)
    consumer.assign([TopicPartition(name, span.partition, span.start)])
    items: list[ReplayItem] = []
    try:
        offset = span.start
        while offset < span.end:
            msg = consumer.poll(timeout)
            if msg is None:
                raise TimeoutError(f"{name}[{span.partition}] stopped at offset {offset} "
                                   f"before {span.end}")
            if msg.error():
                continue
            offset = (msg.offset() or 0) + 1
            if (msg.offset() or 0) >= span.end:
                break
            items.append(_item(span.topic, msg.key(), msg.value() or b"", msg.timestamp()[1],
                               codec, name))
    finally:
        consumer.close()
    return items


def _item(topic: str, key: bytes | None, value: bytes, ts_ms: int, codec: Codec,
          name: str) -> ReplayItem:
    key_text = (key or b"").decode("utf-8", "replace")
    try:
        record = codec.decode(RECORDS[topic], value, name)
    except DecodeError as exc:
        return ReplayItem(ts_ms * 1000, topic, "_undecodable", key_text,
                          {"_raw": value, "_reason": str(exc)})
    return ReplayItem(int(record.get("event_time") or ts_ms * 1000), topic, RECORDS[topic],
                      key_text, record)


def export_range(items: Iterable[ReplayItem], directory: Path) -> dict[str, int]:
    """Write the items as JSON lines, one file per topic (``DIR/<topic>.jsonl``); returns
    the count per topic. Bytes fields are written as lists of ints; undecodable records as
    their reason and raw bytes in hex."""
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    handles: dict[str, Any] = {}
    try:
        for item in items:
            out = handles.get(item.topic)
            if out is None:
                out = handles[item.topic] = (directory / f"{item.topic}.jsonl").open("w")
            line = {"key": item.key, "record_name": item.record_name, "event_us": item.event_us,
                    "record": _jsonable(item.record)}
            out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            counts[item.topic] = counts.get(item.topic, 0) + 1
    finally:
        for out in handles.values():
            out.close()
    return counts


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def keep_forever(bootstrap: str, prefix: str, topics: Iterable[str] = RECORDED,
                 retention_ms: int = -1, timeout: float = 30.0) -> list[str]:
    """Set ``retention.ms`` (default -1: keep everything) on the recorded topics; returns
    their names. Incremental, so other topic settings are left as they are."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [topic_name(prefix, t) for t in topics]
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", str(retention_ms),
                    incremental_operation=AlterConfigOpType.SET)]) for name in names]
    for future in admin.incremental_alter_configs(resources).values():
        future.result(timeout)
    return names
