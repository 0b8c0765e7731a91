"""What every live source (X, Reddit) hands to the ingest pipeline.

A source is an async iterator of :class:`RawPost` (a post in the unified format, text not
yet cleaned) and :class:`Malformed` (a payload that could not become a post: it goes to
``deadletter`` with its bytes and reason). Each source keeps a :class:`SourceHealth` that
the ingest process publishes to ``metrics``. Sources reconnect by themselves (the SDKs'
backoff, plus ours with jitter) and never raise for a dropped connection; they stop when
their ``stop()`` is called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RawPost:
    """One post as a source received it, in the unified format.

    Attributes
    ----------
    id:
        Source-unique id, prefixed by the source (``x:1790...``, ``reddit:t3_abc``).
    source:
        ``x`` or ``reddit`` (``replay`` for files).
    author:
        Handle or username.
    text:
        As received (the ingest pipeline cleans it).
    created_us:
        When the post was made, µs since the epoch (event time).
    received_us:
        Wall clock when the source received it (the trace's ``ingest_in``).
    followers:
        Author reach (X followers; Reddit: 0 unless known).
    likes, reposts, replies:
        Engagement (Reddit: score, 0, number of comments).
    verified:
        X verified author (False elsewhere).
    url:
        Link to the post, if any.
    lang:
        Language the source reported (``""`` when it did not say).
    tickers:
        Symbols the source itself tagged (X cashtag entities); may be empty.
    extra:
        Source details kept for filters and the dashboard (subreddit, flair, parent id,
        kind submission/comment, matching rule tags...).
    """

    id: str
    source: str
    author: str
    text: str
    created_us: int
    received_us: int
    followers: int = 0
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    verified: bool = False
    url: str | None = None
    lang: str = ""
    tickers: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Malformed:
    """A payload a source could not turn into a post."""

    source: str
    payload: bytes
    reason: str
    received_us: int


@dataclass(slots=True)
class SourceHealth:
    """A source's state, published to ``metrics`` by the ingest process."""

    connected: bool = False
    posts: int = 0
    filtered: int = 0
    malformed: int = 0
    errors: int = 0
    reconnects: int = 0
    rate_limited: int = 0
    missing_metrics: int = 0  # posts without an engagement count they should carry (read as 0)
    last_post_us: int = 0
    last_error: str = ""


class Source(Protocol):
    """A live source of posts."""

    name: str
    health: SourceHealth

    def items(self) -> AsyncIterator[RawPost | Malformed]:
        """Posts and malformed payloads as they arrive, until :meth:`stop`."""
        ...

    async def stop(self) -> None:
        """Disconnect; ``items()`` then ends."""
        ...
