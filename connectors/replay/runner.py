"""Drive a replay: produce posts (and market events) to Kafka at recorded pace or faster."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from stocktracker.connectors.replay.source import (
    MalformedPost,
    ReplayItem,
    _event_us,
    paced,
    parse_line,
    post_record,
    read_lines,
)
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.topics import topic_name
from stocktracker.streams.core.trace import now_us

log = logging.getLogger(__name__)

RAW_LINE = "_line"


def file_items(path: Path) -> Iterator[ReplayItem]:
    """Items of a JSONL file in file order; a line whose time is unreadable keeps the
    previous line's time, so it still reaches the dead-letter topic in place."""
    import json

    last_us = 0
    for number, line in read_lines(path):
        try:
            last_us = _event_us(json.loads(line))
        except (ValueError, TypeError, KeyError, MalformedPost, AttributeError):
            pass
        yield ReplayItem(last_us, "posts", "Post", f"{path.name}:{number}",
                         {RAW_LINE: line, "source_name": f"{path}:{number}"})


def run_replay(items: Iterable[ReplayItem], producer: RecordProducer, speed: float,
               stop: threading.Event | None = None) -> dict[str, int]:
    """Produce every item; posts are stamped ``ingest_in`` when they are 'received'.

    Returns counts: ``posts``, ``quotes``, ``deadletter``.
    """
    counts = {"posts": 0, "quotes": 0, "deadletter": 0}
    for item in paced(items, speed):
        if stop is not None and stop.is_set():
            break
        if item.topic == "posts":
            received = now_us()
            try:
                if RAW_LINE in item.record:
                    record = parse_line(item.record[RAW_LINE], received)
                else:
                    record = post_record(item.record, received)
            except MalformedPost as exc:
                _dead_letter(producer, item, str(exc), received)
                counts["deadletter"] += 1
                continue
            record["trace"]["ingest_out"] = now_us()
            producer.send("posts", "Post", record["id"], record)
            counts["posts"] += 1
        else:
            record = dict(item.record)
            record["trace"] = {"market_out": now_us()}
            producer.send(item.topic, item.record_name, item.key, record)
            counts[item.topic] = counts.get(item.topic, 0) + 1
    producer.flush()
    return counts


def _dead_letter(producer: RecordProducer, item: ReplayItem, reason: str, now: int) -> None:
    raw: Any = item.record.get(RAW_LINE)
    payload = raw if isinstance(raw, bytes) else repr(item.record).encode()
    log.warning("malformed post %s: %s", item.key, reason)
    producer.send("deadletter", "DeadLetter", "replay", {
        "topic": topic_name(producer.prefix, "posts"), "partition": -1, "offset": -1,
        "stage": "replay", "reason": reason, "payload": payload, "key": item.key.encode(),
        "event_time": item.event_us or now, "trace": {"replay_in": now},
    })
