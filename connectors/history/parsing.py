"""Lines and rows of past-post files into posts or malformed payloads (no file is opened here).

Each function takes what one line (or CSV row) of a file holds and gives the
:class:`RawPost` items it makes, ``received_us`` 0 (the reader stamps it), and a
:class:`Malformed` with the bytes and a reason for what cannot be a post. X tweets go
through the live :func:`connectors.x.parsing.parse_tweet`, Reddit things through the live
:func:`connectors.reddit.parsing.post_from_fields`. See :mod:`.formats` for the formats.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, TextIO, TypeAlias

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.reddit.parsing import FIELD_ERRORS, post_from_fields
from stocktracker.connectors.x.parsing import parse_tweet

MAX_EPOCH_S = 253_402_300_800
"""Seconds since 1970 at the start of year 10000: later times are taken for garbage."""
CSV_COLUMNS = ("text", "created_at", "author")
"""The columns a CSV file must have (``score`` is optional)."""
Item: TypeAlias = RawPost | Malformed
"""What a reader yields."""


def _decoded(line: bytes, source: str) -> dict[str, Any] | Malformed:
    try:
        value = json.loads(line)
    except ValueError as exc:  # UnicodeDecodeError too
        return Malformed(source, line, f"not JSON: {exc}", 0)
    return value if isinstance(value, dict) else Malformed(source, line, "not a JSON object", 0)


def parse_x_line(line: bytes) -> Iterator[Item]:
    """The tweets of one X API v2 line: a search page, a stream message or a bare tweet.

    A tweet of a page that cannot become a post is a :class:`Malformed` carrying that
    tweet's JSON; an empty page (``meta.result_count`` 0) yields nothing.
    """
    message = _decoded(line, "x")
    if isinstance(message, Malformed):
        yield message
        return
    data, includes = message.get("data"), message.get("includes")
    if isinstance(data, list):
        for tweet in data:
            if not isinstance(tweet, dict):
                yield Malformed("x", json.dumps(tweet).encode(), "a page's tweet is not an object", 0)
                continue
            item = parse_tweet(tweet, includes, None, b"", 0)
            yield replace(item, payload=json.dumps(tweet).encode()) if isinstance(item, Malformed) else item
    elif isinstance(data, dict):
        yield parse_tweet(data, includes, message.get("matching_rules"), line, 0)
    elif data is None and "text" in message and "id" in message:
        yield parse_tweet(message, None, None, line, 0)
    elif data is None and message.get("errors"):
        yield Malformed("x", line, f"errors without data: {str(message['errors'])[:500]}", 0)
    elif not (data is None and isinstance(message.get("meta"), dict)
              and message["meta"].get("result_count") == 0):
        yield Malformed("x", line, "neither a search page, a stream message nor a tweet", 0)


def parse_reddit_line(line: bytes) -> Iterator[Item]:
    """The post of one dump line: a submission (has ``title``) or a comment (``body``)."""
    thing = _decoded(line, "reddit")
    if isinstance(thing, Malformed):
        yield thing
        return
    submission = "title" in thing
    if not submission and "body" not in thing:
        yield Malformed("reddit", line, "neither a submission (title) nor a comment (body)", 0)
        return
    thing_id, kind = thing.get("id"), "t3" if submission else "t1"
    if not isinstance(thing_id, str) or not thing_id:
        yield Malformed("reddit", line, "missing field(s): id", 0)
        return
    fullname = thing_id if thing_id.startswith(f"{kind}_") else f"{kind}_{thing_id}"
    try:
        fields = {**thing, "created_utc": epoch_seconds(thing.get("created_utc"), "created_utc")}
        if not submission and not fields.get("parent_id"):
            fields["parent_id"] = thing.get("link_id")
        yield post_from_fields(fields, fullname, submission=submission, received_us=0)
    except FIELD_ERRORS as exc:
        yield Malformed("reddit", line, f"bad field: {exc}", 0)


def epoch_seconds(value: Any, name: str) -> float | int:
    """Seconds since the epoch from a number or a numeric string, checked.

    Raises
    ------
    ValueError
        Not a number, NaN or infinite, negative, or past :data:`MAX_EPOCH_S`.
    """
    number: float | int
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError(f"{name} {value[:40]!r} is not a number") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"{name} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{name} is not finite")
    if not 0 <= number < MAX_EPOCH_S:
        raise ValueError(f"{name} {number} is not seconds since 1970 before year 10000")
    return number


def timestamp_us(value: str) -> int:
    """µs since the epoch from ISO 8601 with a timezone or epoch seconds (a CSV cell)."""
    try:
        float(value)
    except ValueError:
        pass
    else:
        return int(float(epoch_seconds(value, "created_at")) * 1_000_000)
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"created_at {value[:40]!r} is neither ISO 8601 nor epoch seconds") from None
    if stamp.tzinfo is None:
        raise ValueError(f"created_at {value[:40]!r} has no timezone")
    return int(stamp.timestamp() * 1_000_000)


def csv_items(text: TextIO) -> Iterator[tuple[int, Item]]:
    """(line number, item) of every non-blank row of a CSV file opened with ``newline=""``.

    A header without the :data:`CSV_COLUMNS` is one :class:`Malformed` and nothing more is
    read; a row that cannot be a post is a :class:`Malformed` carrying the row as CSV.
    """
    reader = csv.reader(text)
    try:
        header = [c.strip().lower() for c in next(reader, [])]
    except csv.Error as exc:
        yield 1, Malformed("csv", b"", f"unreadable header: {exc}", 0)
        return
    if not header:
        return  # an empty file
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        yield 1, Malformed("csv", _row_bytes(header), f"header lacks {', '.join(missing)}", 0)
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, Malformed("csv", b"", f"unreadable row: {exc}", 0)
            continue
        if any(cell.strip() for cell in row):
            yield reader.line_num, _csv_post(header, row)


def _csv_post(header: list[str], row: list[str]) -> Item:
    payload = _row_bytes(row)
    if len(row) != len(header):
        return Malformed("csv", payload, f"{len(row)} fields where the header has {len(header)}", 0)
    cells = dict(zip(header, row, strict=True))
    try:
        for cell in row:
            cell.encode("utf-8")  # a surrogate escape: the file's bytes were not UTF-8
    except UnicodeEncodeError:
        return Malformed("csv", payload, "not UTF-8", 0)
    author, text = cells["author"].strip(), cells["text"]
    if not author:
        return Malformed("csv", payload, "author is empty", 0)
    try:
        created_us = timestamp_us(cells["created_at"])
        score = _integer(cells.get("score", ""), "score")
    except ValueError as exc:
        return Malformed("csv", payload, f"bad field: {exc}", 0)
    digest = hashlib.sha1(f"{author}\x1f{created_us}\x1f{text}".encode()).hexdigest()[:16]
    return RawPost(id=f"csv:{digest}", source="csv", author=author, text=text,
                   created_us=created_us, received_us=0, likes=score)


def _integer(value: str, name: str) -> int:
    """An integer cell (blank: 0); ``12.0`` is 12, ``1.5``, NaN and garbage are errors."""
    value = value.strip()
    if not value:
        return 0
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} {value[:40]!r} is not a number") from None
    if not math.isfinite(number) or not number.is_integer() or abs(number) >= 2**63:
        raise ValueError(f"{name} {value[:40]!r} is not an integer")
    return int(number)


def _row_bytes(row: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue().encode("utf-8", "surrogateescape")
