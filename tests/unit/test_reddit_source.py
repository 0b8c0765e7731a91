"""The Reddit source: the real asyncpraw client against a local Reddit API (connectors/simulated)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.reddit.config import RedditSettings
from stocktracker.connectors.reddit.source import RedditSource, reddit_source
from stocktracker.connectors.simulated.reddit_server import FakeRedditServer
from tests.waiting import eventually_async

SUBREDDITS = ("wallstreetbets", "options", "stocks")
WAIT_S = 10.0  # for the local Reddit API and the source to show an effect


def settings_for(server: FakeRedditServer, **overrides: Any) -> RedditSettings:
    values: dict[str, Any] = {
        "reddit_client_id": server.client_id, "reddit_client_secret": server.client_secret,
        "reddit_url": server.url, "reddit_oauth_url": server.url,
        "reddit_subreddits": SUBREDDITS, "reconnect_max_s": 1.0, **overrides}
    return RedditSettings(_env_file=None, **values)  # type: ignore[call-arg]


class Running:
    """A started source and what it has yielded so far."""

    def __init__(self, source: RedditSource) -> None:
        self.source = source
        self.items: list[RawPost | Malformed] = []

    @property
    def posts(self) -> list[RawPost]:
        return [i for i in self.items if isinstance(i, RawPost)]

    @property
    def malformed(self) -> list[Malformed]:
        return [i for i in self.items if isinstance(i, Malformed)]


@asynccontextmanager
async def running(server: FakeRedditServer, **overrides: Any) -> AsyncIterator[Running]:
    """The source, started and past its first polls (what was there before is skipped)."""
    source = RedditSource(settings_for(server, **overrides), backoff_base_s=0.05,
                          poll_min_s=0.02, poll_max_s=0.05)
    run = Running(source)

    async def consume() -> None:
        async for item in source.items():
            run.items.append(item)

    consumer = asyncio.create_task(consume())
    kinds = ("new", "comments") if source._settings.reddit_comments else ("new",)
    try:
        await eventually_async(lambda: all(len(server.listings(k)) >= 2 for k in kinds), timeout=WAIT_S)
        yield run
    finally:
        await source.stop()
        await asyncio.wait_for(consumer, 5)


@pytest.fixture
async def server() -> AsyncIterator[FakeRedditServer]:
    async with FakeRedditServer(requests_per_window=100_000) as fake:
        yield fake


def gap_after(server: FakeRedditServer, index: int) -> float:
    """Seconds between listing request ``index`` and the one after it."""
    listings = server.listings()
    return float(listings[index + 1]["at"] - listings[index]["at"])


async def test_app_only_oauth_then_bearer_requests(server: FakeRedditServer) -> None:
    async with running(server):
        pass

    [token] = [r for r in server.requests if r["path"] == "/api/v1/access_token"]
    assert token["form"]["grant_type"] == "client_credentials"
    assert token["authorization"].startswith("Basic ")
    assert {r["authorization"] for r in server.listings()} == {f"bearer {server.tokens[0]}"}
    assert {r["path"] for r in server.listings()} == {"/r/wallstreetbets+options+stocks/new",
                                                      "/r/wallstreetbets+options+stocks/comments"}


async def test_submissions_and_comments_of_several_subreddits_become_raw_posts(
        server: FakeRedditServer) -> None:
    old = server.submit("stocks", "posted before we started")
    async with running(server) as run:
        sub = server.submit("wallstreetbets", "SPY 0DTE calls", "Loading up before CPI",
                            author="yolo_king", score=42, num_comments=7, flair="YOLO",
                            created_utc=1_795_530_600.5)
        server.submit("options", "Iron condor on QQQ?", author="theta_gang")
        com = server.comment("stocks", "puts are free money", parent=sub, author="bear",
                             score=3, flair="Bear", created_utc=1_795_530_660.0)
        server.submit("pennystocks", "not one of ours")
        await eventually_async(lambda: len(run.posts) == 3, timeout=WAIT_S)
        assert run.source.health.connected

    by_id = {p.id: p for p in run.posts}
    assert f"reddit:{old}" not in by_id
    post = by_id[f"reddit:{sub}"]
    assert post.source == "reddit" and post.author == "yolo_king"
    assert post.text == "SPY 0DTE calls\n\nLoading up before CPI"
    assert (post.likes, post.replies, post.reposts) == (42, 7, 0)
    assert post.created_us == 1_795_530_600_500_000 and post.received_us > post.created_us
    assert post.url == f"https://www.reddit.com/r/wallstreetbets/comments/{sub[3:]}/spy_0dte_calls/"
    assert post.extra == {"subreddit": "wallstreetbets", "kind": "submission", "flair": "YOLO",
                          "parent_id": ""}
    comment = by_id[f"reddit:{com}"]
    assert comment.text == "puts are free money" and comment.likes == 3
    assert comment.extra == {"subreddit": "stocks", "kind": "comment", "flair": "Bear",
                             "parent_id": sub}
    assert {p.extra["subreddit"] for p in run.posts} == {"wallstreetbets", "options", "stocks"}
    assert run.source.health.posts == 3


async def test_posts_under_the_minimum_score_are_filtered(server: FakeRedditServer) -> None:
    async with running(server, reddit_min_score=5, reddit_comments=False) as run:
        server.submit("options", "low", score=1)
        server.submit("options", "high", score=10)
        await eventually_async(lambda: run.posts and run.source.health.filtered == 1, timeout=WAIT_S)

    assert [p.text for p in run.posts] == ["high"]


async def test_a_429_page_in_html_is_a_rate_limit_and_its_retry_after_is_kept(
        server: FakeRedditServer) -> None:
    server.rate_reset_s = 2
    async with running(server, reddit_comments=False) as run:
        limited = len(server.listings())
        server.faults.append("429html")
        await eventually_async(lambda: len(server.listings()) >= limited + 2, timeout=WAIT_S)
    assert gap_after(server, limited) > 1.9  # Retry-After: 2, not the first backoff
    health = run.source.health
    assert health.rate_limited == 1 and "TooManyRequests" in (health.last_error or "")


async def test_rate_limit_headers_and_429_make_the_client_wait(server: FakeRedditServer) -> None:
    async with running(server, reddit_comments=False) as run:
        spent = len(server.listings())
        server.faults.append("exhausted")           # 200, but remaining 0 for 1 s
        await eventually_async(lambda: len(server.listings()) >= spent + 2, timeout=WAIT_S)
        limited = len(server.listings())
        server.faults.append("429")                 # raises in asyncpraw: counted, resumed
        await eventually_async(lambda: len(server.listings()) >= limited + 2, timeout=WAIT_S)
        server.submit("stocks", "after the limits")
        await eventually_async(lambda: run.posts, timeout=WAIT_S)

    assert gap_after(server, spent) > 0.9           # asyncprawcore slept until the reset
    assert gap_after(server, limited) > 0.9
    health = run.source.health
    assert (health.rate_limited, health.errors, health.reconnects) == (1, 1, 1)
    assert run.posts[0].text == "after the limits"


async def test_server_errors_are_retried_then_the_stream_resumes(server: FakeRedditServer) -> None:
    async with running(server, reddit_comments=False) as run:
        server.faults.extend(["500", "500", "500"])  # asyncprawcore retries twice, then raises
        await eventually_async(lambda: run.source.health.reconnects == 1, timeout=WAIT_S)
        server.submit("wallstreetbets", "back online")
        await eventually_async(lambda: run.posts, timeout=WAIT_S)

    assert run.source.health.errors == 1
    assert "ServerError" in run.source.health.last_error
    assert run.posts[0].text == "back online"


async def test_malformed_children_become_malformed_once_and_the_rest_flows(
        server: FakeRedditServer) -> None:
    async with running(server, reddit_comments=False) as run:
        server.faults.append("malformed")            # a child without id in one answer
        server.add_raw({"kind": "t3", "data": {      # a stored one, in every answer from now on
            "id": "zzz1", "name": "t3_zzz1", "subreddit": "options", "title": "when?",
            "author": "x", "score": 1, "created_utc": "tomorrow", "permalink": "/r/options/"}})
        await eventually_async(lambda: len(run.malformed) == 2, timeout=WAIT_S)
        server.submit("options", "fine post")
        await eventually_async(lambda: run.posts, timeout=WAIT_S)
        polls = len(server.listings())
        await eventually_async(lambda: len(server.listings()) >= polls + 3, timeout=WAIT_S)

    assert len(run.malformed) == 2 and run.source.health.malformed == 2
    reasons = sorted(m.reason for m in run.malformed)
    assert reasons[0].startswith("asyncpraw could not build it: ValueError")
    assert reasons[1] == "bad field: created_utc is not a number"
    assert any(b"no id, no author" in m.payload for m in run.malformed)
    assert run.source.health.errors == 0


def test_missing_credentials_no_source() -> None:
    assert reddit_source(RedditSettings(_env_file=None)) is None  # type: ignore[call-arg]
    assert reddit_source(RedditSettings(_env_file=None, reddit_client_id="id")) is None  # type: ignore[call-arg]
    both = RedditSettings(_env_file=None, reddit_client_id="id", reddit_client_secret="s")  # type: ignore[call-arg]
    assert isinstance(reddit_source(both), RedditSource)


async def test_the_secret_is_never_logged_nor_in_health(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeRedditServer(client_secret="the-server-expects-another") as wrong, \
            FakeRedditServer() as right:
        source = RedditSource(settings_for(right, reddit_url=wrong.url, reddit_oauth_url=wrong.url),
                              backoff_base_s=0.05)
        consumer = asyncio.create_task(anext(aiter(source.items()), None))
        await eventually_async(lambda: source.health.errors >= 2, timeout=WAIT_S)
        await source.stop()
        await asyncio.wait_for(consumer, 5)
        secret = right.client_secret

    assert "401" in source.health.last_error
    assert any(r.name.startswith("asyncprawcore") for r in caplog.records)
    assert secret not in caplog.text and secret not in repr(source.health)
