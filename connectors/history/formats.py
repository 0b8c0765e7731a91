"""Files of past posts read lazily, line by line, into posts and malformed payloads.

Formats (:data:`FORMATS`):

``x``
    X API v2 JSON lines: each line a search-results page (``{"data": [tweets], "includes":
    {"users": [...]}, "meta": {...}}``), a stream message (``{"data": tweet, ...}``) or a
    bare tweet object. Tweets are parsed by the live parser
    (:func:`connectors.x.parsing.parse_tweet`), authors resolved from ``includes.users``.
``reddit``
    Pushshift / Arctic Shift NDJSON dumps of submissions (``title``) and comments
    (``body``), plain or zstandard-compressed (``.zst``, decoded as a stream with a window of
    up to 2 GiB, as these dumps need), parsed by the live
    :func:`connectors.reddit.parsing.post_from_fields`. ``created_utc`` may be a number or a
    numeric string.
``csv``
    A header ``text,created_at,author`` and optionally ``score`` (any order, other columns
    ignored); ``created_at`` ISO 8601 with a timezone, or epoch seconds. The post id is
    ``csv:`` and a hash of author, time and text, so importing a file again gives the same ids.

A line that is not JSON, lacks a needed field or holds a NaN, infinite or garbage number
becomes a :class:`Malformed` whose reason starts with ``line N:``; reading goes on. Data
that cannot be decompressed ends that file with one :class:`Malformed`.

Imported posts were never received live: ``received_us`` is set to ``created_us`` (their
event time), and a malformed line's ``received_us`` is the time of the last post read
before it in the file (0 before the first).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import zstandard

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.history.parsing import (
    CSV_COLUMNS,
    Item,
    csv_items,
    parse_reddit_line,
    parse_x_line,
)

FORMATS = ("x", "reddit", "csv")
"""The formats :func:`read_posts` knows."""
ZSTD_MAX_WINDOW = 2**31
"""The decompression window Reddit dumps are made with (``zstd --long=31``)."""
_DETECT_LINES = 20  # non-blank lines looked at to tell a file's format


@contextmanager
def open_text(path: Path, newline: str | None = None) -> Iterator[TextIO]:
    """A file as text, decompressed on the fly when its name ends in ``.zst``.

    Bytes that are not UTF-8 are kept as surrogate escapes, so that
    ``line.encode("utf-8", "surrogateescape")`` gives the file's bytes back.
    """
    with path.open("rb") as raw:
        binary: Any = raw
        if path.suffix.lower() == ".zst":
            binary = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(
                raw, read_across_frames=True)
        with io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape",
                              newline=newline) as text:
            yield text


def detect_format(path: Path) -> str:
    """The format of a file, from its extension (``.csv``) or its first lines.

    Raises
    ------
    ValueError
        When none of the first lines tells.
    """
    if path.name.lower().removesuffix(".zst").endswith(".csv"):
        return "csv"
    with open_text(path) as text:
        looked = 0
        for line in text:
            if not line.strip():
                continue
            found = _format_of_line(line)
            if found:
                return found
            looked += 1
            if looked >= _DETECT_LINES:
                break
    raise ValueError(f"cannot tell the format of {path}; name one of {', '.join(FORMATS)}")


def _format_of_line(line: str) -> str | None:
    try:
        first = json.loads(line)
    except ValueError:
        header = {c.strip().lower() for c in line.split(",")}
        return "csv" if header.issuperset(CSV_COLUMNS) else None
    if not isinstance(first, dict):
        return None
    if "created_utc" in first:
        return "reddit"
    if "data" in first or "meta" in first or {"text", "author_id"} <= first.keys():
        return "x"
    return None


def read_posts(path: Path, fmt: str | None = None) -> Iterator[Item]:
    """Posts and malformed payloads of one file, in file order, read lazily.

    Parameters
    ----------
    path:
        The file (``.zst``: zstandard-compressed).
    fmt:
        One of :data:`FORMATS`; ``None``: :func:`detect_format`.

    Yields
    ------
    RawPost | Malformed
        Posts with ``received_us == created_us``; malformed lines with their bytes and a
        reason starting ``line N:`` (see the module docstring).
    """
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    last_us = 0
    number = 0
    with open_text(path, newline="" if fmt == "csv" else None) as text:
        items = csv_items(text) if fmt == "csv" else _json_items(text, _LINE_PARSERS[fmt])
        try:
            for number, item in items:
                if isinstance(item, RawPost):
                    last_us = item.created_us
                    yield replace(item, received_us=item.created_us)
                else:
                    yield replace(item, reason=f"line {number}: {item.reason}", received_us=last_us)
        except zstandard.ZstdError as exc:
            yield Malformed(fmt, b"", f"{path.name}: unreadable after line {number}: {exc}", last_us)


def _json_items(text: TextIO, parse: Callable[[bytes], Iterator[Item]]) -> Iterator[tuple[int, Item]]:
    for number, line in enumerate(text, start=1):
        if line.strip():
            for item in parse(line.rstrip("\r\n").encode("utf-8", "surrogateescape")):
                yield number, item


_LINE_PARSERS: dict[str, Callable[[bytes], Iterator[Item]]] = {
    "x": parse_x_line, "reddit": parse_reddit_line}


