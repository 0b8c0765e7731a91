"""Reddit source: new submissions and comments of a multireddit, through asyncpraw.

asyncpraw runs read-only with the app's credentials (application-only OAuth); asyncprawcore
gets the token, reads the ``x-ratelimit-*`` headers and sleeps before a request when the
window is spent, and retries 5xx answers twice. Each listing (``r/a+b+c/new`` and, when
``reddit_comments``, ``r/a+b+c/comments``) is followed with asyncpraw's
``stream_generator``, the function behind ``subreddit.stream.submissions()`` and
``.comments()``, with two changes made through its own parameters:

- the listing function is ours: it fetches the same listing through asyncpraw's
  ``Reddit.request`` and builds each child with asyncpraw's ``Submission.parse`` /
  ``Comment.parse``. ``subreddit.new`` builds a whole page at once, so one broken child
  would fail every poll of that listing for as long as the child stays on its first page;
  here it becomes one :class:`Malformed` and the others go on;
- ``pause_after=-1`` hands control back after every response, so the idle backoff between
  polls (asyncpraw's 1 s doubling to 16 s) is ours to set (``poll_min_s``/``poll_max_s``).

A stream that raises (5xx after asyncprawcore's retries, 429, a network error) is
counted, backed off with jitter up to ``reconnect_max_s`` and restarted; fullnames already
seen are remembered across restarts, so nothing is yielded twice. On the very first poll
the posts already there are skipped (``skip_existing``): a live source reports what is new.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpraw
from asyncpraw.models import Comment, Submission
from asyncpraw.models.util import stream_generator
from asyncprawcore.exceptions import TooManyRequests

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.queued import QueuedSource, backoff_delay
from stocktracker.connectors.reddit.config import RedditSettings
from stocktracker.connectors.reddit.parsing import FIELD_ERRORS, post_from_fields

log = logging.getLogger(__name__)

_BAD = "bad_"          # prefix of the stand-in fullname of a child without a usable id
_SEEN_MAX = 5000       # fullnames remembered (a listing page holds at most 100)
_SDK_LOGGERS = ("asyncprawcore", "asyncpraw")


@dataclass(frozen=True, slots=True)
class Child:
    """One listing child: its raw JSON and, when asyncpraw could build it, the model."""

    fullname: str
    raw: Any
    model: Submission | Comment | None = None
    reason: str = ""

    def payload(self) -> bytes:
        """The child as JSON bytes (for a :class:`Malformed`)."""
        return json.dumps(self.raw, default=str, sort_keys=True).encode()


def build_child(raw: Any, reddit: asyncpraw.Reddit) -> Child:
    """A listing child as asyncpraw's model, or a :class:`Child` saying why it is not one."""
    kinds = {"t3": Submission, "t1": Comment}
    data = raw.get("data") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or raw.get("kind") not in kinds or not isinstance(data, dict):
        return _bad(raw, "not a t3/t1 child with a data object")
    try:
        model = kinds[raw["kind"]].parse(data, reddit)
        return Child(model.fullname, raw, model)
    except Exception as exc:  # asyncpraw's constructors raise anything on odd data
        return _bad(raw, f"asyncpraw could not build it: {type(exc).__name__}: {exc}")


def _bad(raw: Any, reason: str) -> Child:
    digest = hashlib.sha1(json.dumps(raw, default=str, sort_keys=True).encode()).hexdigest()
    return Child(f"{_BAD}{digest[:16]}", raw, None, reason)


def to_post(child: Child, received_us: int) -> RawPost | Malformed:
    """A built child as a :class:`RawPost` (``Malformed`` when a needed field is wrong)."""
    model = child.model
    if model is None:
        return Malformed("reddit", child.payload(), child.reason, received_us)
    try:
        return post_from_fields(vars(model), child.fullname,
                                submission=isinstance(model, Submission), received_us=received_us)
    except FIELD_ERRORS as exc:
        return Malformed("reddit", child.payload(), f"bad field: {exc}", received_us)


class RedditSource(QueuedSource):
    """Posts from Reddit (see the module docstring).

    Parameters
    ----------
    settings:
        ``reddit_*`` settings, ``reconnect_max_s`` and ``buffer_size``; the client id and
        secret are required.
    tickers:
        Kept for symmetry with the X source (Reddit does not tag tickers; the pipeline does).
    backoff_base_s:
        First wait after an error (doubles per failed attempt up to ``reconnect_max_s``).
    poll_min_s, poll_max_s:
        Wait after a poll with nothing new, doubling from min to max (asyncpraw: 1 and 16).
    skip_existing:
        Skip what the listings hold when the source starts.
    """

    name = "reddit"

    def __init__(self, settings: RedditSettings, tickers: tuple[str, ...] = ("SPY",), *,
                 backoff_base_s: float = 1.0, poll_min_s: float = 1.0, poll_max_s: float = 16.0,
                 skip_existing: bool = True) -> None:
        if not settings.reddit_client_id or settings.reddit_client_secret is None:
            raise ValueError("INGEST_REDDIT_CLIENT_ID / INGEST_REDDIT_CLIENT_SECRET are not set")
        self._secret = settings.reddit_client_secret.get_secret_value()
        super().__init__(settings.buffer_size, [self._secret], _SDK_LOGGERS)
        self._settings = settings
        self.tickers = tickers
        self._backoff_base_s = backoff_base_s
        self._poll = (poll_min_s, poll_max_s)
        self._skip_existing = skip_existing
        self._seen: OrderedDict[str, None] = OrderedDict()

    # ---- polling -----------------------------------------------------------------------
    def _reddit(self) -> asyncpraw.Reddit:
        s = self._settings
        overrides = {k: v for k, v in (("oauth_url", s.reddit_oauth_url), ("reddit_url", s.reddit_url))
                     if v}
        return asyncpraw.Reddit(client_id=s.reddit_client_id, client_secret=self._secret,
                                user_agent=s.reddit_user_agent, check_for_updates=False,
                                **overrides)

    async def _run(self) -> None:
        multi = "+".join(self._settings.reddit_subreddits)
        listings = ["new"] + (["comments"] if self._settings.reddit_comments else [])
        # The first poll gets the token; the other listings start after it, so that
        # they do not each ask for one.
        first_answer = asyncio.Event()
        async with self._reddit() as reddit:
            await asyncio.gather(*(
                self._follow(reddit, f"r/{multi}/{kind}", first_answer, leader=n == 0)
                for n, kind in enumerate(listings)))

    async def _follow(self, reddit: asyncpraw.Reddit, path: str, first_answer: asyncio.Event,
                      leader: bool) -> None:
        """Poll one listing until stopped, restarting its stream after errors."""
        if not leader:
            await first_answer.wait()
        first_page = self._skip_existing
        attempt = 0
        while not self._stopped:
            fetched = 0
            idle = 0
            try:
                stream = stream_generator(partial(self._fetch, reddit, path),
                                          attribute_name="fullname", pause_after=-1)
                async with contextlib.aclosing(stream):
                    async for child in stream:
                        if child is not None:
                            fetched += 1
                            await self._take(child, skip=first_page)
                            continue
                        # the end of one response
                        self._mark_connected()
                        attempt, first_page = 0, False
                        first_answer.set()
                        idle = 0 if fetched else idle + 1
                        fetched = 0
                        if idle:
                            await asyncio.sleep(self._idle_delay(idle))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # asyncprawcore / aiohttp errors: back off and resume
                first_answer.set()
                delay = self._on_error(exc, attempt)
                attempt += 1
                await asyncio.sleep(delay)
                self._count_reconnect()

    async def _fetch(self, reddit: asyncpraw.Reddit, path: str, *, limit: int,
                     params: dict[str, Any]) -> AsyncIterator[Child]:
        """One listing page, newest first (the listing function given to stream_generator)."""
        before = params.get("before")
        if before and before.startswith(_BAD):
            before = None  # a stand-in fullname Reddit does not know: ask for the newest
        answer = await reddit.request(method="GET", path=path,
                                      params={"limit": limit, "before": before})
        data = answer.get("data") if isinstance(answer, dict) else None
        children = data.get("children") if isinstance(data, dict) else None
        if not isinstance(children, list):
            yield _bad(answer, "not a Listing")
            return
        for raw in children:
            yield build_child(raw, reddit)

    def _idle_delay(self, idle: int) -> float:
        low, high = self._poll
        base = min(high, low * 2 ** min(idle - 1, 30))
        return base * (1 + (random.random() - 0.5) / 16)  # asyncpraw's jitter

    async def _take(self, child: Child, skip: bool) -> None:
        if child.fullname in self._seen:
            return
        self._seen[child.fullname] = None
        if len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        if skip:
            return
        await self._deliver(to_post(child, time.time_ns() // 1000))

    def _keeps(self, post: RawPost) -> bool:
        return post.likes >= self._settings.reddit_min_score

    def _on_error(self, exc: Exception, attempt: int) -> float:
        """Count an error; the wait before the stream restarts."""
        self._count_lost(f"{type(exc).__name__}: {exc}")
        delay = backoff_delay(attempt, self._backoff_base_s, self._settings.reconnect_max_s)
        if isinstance(exc, TooManyRequests):
            self._count_rate_limit()
            with contextlib.suppress(TypeError, ValueError):
                delay = max(delay, float(exc.retry_after))
        log.warning("Reddit: %s (retrying in %.1f s)", self.health.last_error, delay)
        return delay


def reddit_source(settings: RedditSettings, tickers: tuple[str, ...] = ("SPY",)) -> RedditSource | None:
    """The Reddit source, or ``None`` without ``INGEST_REDDIT_CLIENT_ID`` and ``_SECRET``."""
    secret = settings.reddit_client_secret
    if not settings.reddit_client_id or secret is None or not secret.get_secret_value():
        return None
    return RedditSource(settings, tickers)
