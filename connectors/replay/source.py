"""Replay: posts from JSONL files (and market events) produced at recorded pace or faster.

A line is one post: ``{"id", "author", "text", "created_at_us" | "created_at", ...}``.
A line that is not valid JSON or misses a required field becomes a ``DeadLetter`` with
the original bytes; the replay goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REQUIRED = ("id", "author", "text")


class MalformedPost(ValueError):
    """A replay line that cannot become a Post."""


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One thing to produce at event time ``event_us``: a post, a quote or a bad line."""

    event_us: int
    topic: str
    record_name: str
    key: str
    record: dict[str, Any]


def _event_us(raw: dict[str, Any]) -> int:
    if "created_at_us" in raw:
        return int(raw["created_at_us"])
    if "created_at" in raw:
        stamp = datetime.fromisoformat(str(raw["created_at"]).replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            raise MalformedPost("created_at has no timezone")
        return int(stamp.timestamp() * 1e6)
    raise MalformedPost("missing created_at_us / created_at")


def post_record(raw: dict[str, Any], received_us: int) -> dict[str, Any]:
    """A Post record from one decoded replay line (raises :class:`MalformedPost`)."""
    if not isinstance(raw, dict):
        raise MalformedPost("a post line must be a JSON object")
    missing = [k for k in REQUIRED if not isinstance(raw.get(k), str) or not raw.get(k)]
    if missing:
        raise MalformedPost(f"missing or empty field(s): {', '.join(missing)}")
    try:
        return {
            "id": raw["id"],
            "source": str(raw.get("source") or "replay"),
            "author": raw["author"],
            "text": " ".join(raw["text"].split()),
            "tickers": [str(t).upper() for t in raw.get("tickers") or []],
            "followers": int(raw.get("followers") or 0),
            "likes": int(raw.get("likes") or 0),
            "reposts": int(raw.get("reposts") or 0),
            "replies": int(raw.get("replies") or 0),
            "url": raw.get("url"),
            "lang": raw.get("lang"),
            "event_time": _event_us(raw),
            "trace": {"ingest_in": received_us},
        }
    except (TypeError, ValueError) as exc:
        raise MalformedPost(str(exc)) from exc


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw bytes) of every non-blank line of a JSONL file."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line.rstrip(b"\n")


def parse_line(line: bytes, received_us: int) -> dict[str, Any]:
    """Decode one JSONL line into a Post record (raises :class:`MalformedPost`)."""
    try:
        raw = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPost(f"not JSON: {exc}") from exc
    return post_record(raw, received_us)


def paced(items: Iterable[ReplayItem], speed: float,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[ReplayItem]:
    """Yield items at their recorded pace divided by ``speed`` (0 = as fast as possible)."""
    start_wall: float | None = None
    start_event = 0
    for item in items:
        if speed > 0:
            if start_wall is None:
                start_wall, start_event = clock(), item.event_us
            due = start_wall + (item.event_us - start_event) / 1e6 / speed
            delay = due - clock()
            if delay > 0:
                sleep(delay)
        yield item
