"""The X source: the real tweepy streaming client against a local X API (connectors/simulated)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.simulated.x_server import FakeXServer
from stocktracker.connectors.x import parsing, source
from stocktracker.connectors.x.config import XSettings
from stocktracker.connectors.x.rules import ExistingRule, RulesDiff, build_rules, diff_rules
from stocktracker.connectors.x.source import XSource, x_source
from tests.waiting import eventually_async

TOKEN = "local-bearer-token"
WAIT_S = 5.0  # for the local X API and the source to show an effect


def settings_for(server: FakeXServer, **overrides: Any) -> XSettings:
    values: dict[str, Any] = {"x_bearer_token": TOKEN, "x_base_url": server.url,
                              "reconnect_max_s": 1.0, **overrides}
    return XSettings(_env_file=None, **values)  # type: ignore[call-arg]


class Running:
    """A started source and what it has yielded so far."""

    def __init__(self, source: XSource) -> None:
        self.source = source
        self.items: list[RawPost | Malformed] = []

    @property
    def posts(self) -> list[RawPost]:
        return [i for i in self.items if isinstance(i, RawPost)]

    @property
    def malformed(self) -> list[Malformed]:
        return [i for i in self.items if isinstance(i, Malformed)]


@asynccontextmanager
async def running(server: FakeXServer, tickers: tuple[str, ...] = ("SPY",),
                  **overrides: Any) -> AsyncIterator[Running]:
    source = XSource(settings_for(server, **overrides), tickers, backoff_base_s=0.05)
    run = Running(source)

    async def consume() -> None:
        async for item in source.items():
            run.items.append(item)

    consumer = asyncio.create_task(consume())
    try:
        await eventually_async(lambda: server.connected, timeout=WAIT_S)
        yield run
    finally:
        await source.stop()
        await asyncio.wait_for(consumer, 5)


@pytest.fixture
async def server() -> AsyncIterator[FakeXServer]:
    async with FakeXServer(bearer_token=TOKEN, heartbeat_s=0.1) as fake:
        yield fake


# ---- rules ----------------------------------------------------------------------------------
def test_rules_are_cashtags_and_keywords_per_ticker_in_english_without_retweets() -> None:
    rules = build_rules(("spy", "QQQ"), ("0DTE", "calls", "iron condor"))

    assert [r.tag for r in rules] == ["stocktracker:cashtag:SPY", "stocktracker:terms:SPY",
                                      "stocktracker:cashtag:QQQ", "stocktracker:terms:QQQ"]
    assert rules[0].value == "$SPY lang:en -is:retweet"
    assert rules[1].value == 'SPY (0DTE OR calls OR "iron condor") lang:en -is:retweet'
    with pytest.raises(ValueError, match="INGEST_X_KEYWORDS"):
        build_rules(("SPY",), tuple(f"keyword{i}" for i in range(60)))


def test_rules_diff_adds_missing_deletes_stale_and_leaves_other_rules() -> None:
    wanted = build_rules(("SPY",), ("0DTE",))
    existing = [
        ExistingRule("1", wanted[0].value, wanted[0].tag),                 # ours, still wanted
        ExistingRule("2", "SPY (puts) lang:en -is:retweet", "stocktracker:terms:SPY"),  # ours, stale
        ExistingRule("3", wanted[0].value + " ", wanted[0].tag),           # ours, stale value
        ExistingRule("4", "from:someone", "other-app"),                    # somebody else's
        ExistingRule("5", "cats"),                                         # untagged
    ]

    diff = diff_rules(wanted, existing)

    assert diff.delete == ("2", "3")
    assert diff.add == (wanted[1],)
    assert diff_rules(wanted, [ExistingRule("1", r.value, r.tag) for r in wanted]).empty
    duplicate = [ExistingRule("1", wanted[0].value, wanted[0].tag),
                 ExistingRule("9", wanted[0].value, wanted[0].tag)]
    assert diff_rules(wanted[:1], duplicate).delete == ("9",)
    foreign_twin = [ExistingRule("7", wanted[0].value, "other-app")]
    assert diff_rules(wanted[:1], foreign_twin) == RulesDiff()   # X refuses a duplicate value


async def test_rules_are_synced_on_start(server: FakeXServer) -> None:
    kept = server.add_rule("$SPY lang:en -is:retweet", "stocktracker:cashtag:SPY")
    server.add_rule("$TSLA lang:en -is:retweet", "stocktracker:cashtag:TSLA")   # stale
    foreign = server.add_rule("from:someone", "other-app")

    async with running(server, ("SPY",), x_keywords=("0DTE",)):
        by_tag = {r.get("tag"): r for r in server.rules}

    assert set(by_tag) == {"stocktracker:cashtag:SPY", "stocktracker:terms:SPY", "other-app"}
    assert by_tag["stocktracker:cashtag:SPY"]["id"] == kept
    assert by_tag["other-app"]["id"] == foreign
    assert by_tag["stocktracker:terms:SPY"]["value"] == "SPY (0DTE) lang:en -is:retweet"
    assert server.count("/2/tweets/search/stream/rules", "POST") == 2   # one delete, one add


# ---- tweets ---------------------------------------------------------------------------------
async def test_tweets_become_raw_posts_with_author_engagement_and_cashtags(server: FakeXServer) -> None:
    async with running(server) as run:
        message = server.tweet("$SPY 0DTE calls printing", "trader_joe", tweet_id="1790000000000000999",
                               followers=5400, verified=True, likes=12, reposts=3, replies=4,
                               cashtags=("SPY",), created_at="2026-11-24T14:30:00.000Z",
                               tags=("stocktracker:cashtag:SPY",))
        await server.push(message)
        [post] = await eventually_async(lambda: run.posts, timeout=WAIT_S)

    assert post.id == "x:1790000000000000999" and post.source == "x"
    assert post.author == "trader_joe" and post.text == "$SPY 0DTE calls printing"
    assert (post.followers, post.likes, post.reposts, post.replies) == (5400, 12, 3, 4)
    assert post.verified and post.lang == "en" and post.tickers == ("SPY",)
    assert post.url == "https://x.com/trader_joe/status/1790000000000000999"
    assert post.created_us == 1_795_530_600_000_000
    assert post.received_us > post.created_us
    assert post.extra["rules"] == "stocktracker:cashtag:SPY"
    assert run.source.health.posts == 1 and run.source.health.last_post_us == post.received_us
    assert "missing_metrics" not in post.extra and run.source.health.missing_metrics == 0
    query = next(r["query"] for r in server.requests if r["path"] == "/2/tweets/search/stream")
    assert query == {"tweet.fields": ",".join(parsing.TWEET_FIELDS),   # exactly what it reads
                     "expansions": "author_id", "user.fields": "username,public_metrics,verified"}


# ---- engagement counts and field selection --------------------------------------------------
async def test_old_count_names_are_read_as_a_fallback(server: FakeXServer) -> None:
    server.legacy_metrics = True   # retweet_count / tweet_count, as X sent them before v2.167
    async with running(server) as run:
        await server.push(server.tweet("old names", "a", likes=1, reposts=7, replies=2))
        [post] = await eventually_async(lambda: run.posts, timeout=WAIT_S)

    assert (post.likes, post.reposts, post.replies) == (1, 7, 2)
    assert run.source.health.missing_metrics == 0


async def test_a_post_without_a_count_is_kept_and_counted_in_health(server: FakeXServer) -> None:
    async with running(server) as run:
        neither = server.tweet("no repost count under either name", "a", likes=5, reposts=9)
        del neither["data"]["public_metrics"]["repost_count"]
        await server.push(neither)
        bare = server.tweet("no public_metrics at all", "b", likes=5)
        del bare["data"]["public_metrics"]
        await server.push(bare)
        await eventually_async(lambda: len(run.posts) == 2, timeout=WAIT_S)

    first, second = run.posts
    assert (first.likes, first.reposts) == (5, 0)
    assert first.extra["missing_metrics"] == "public_metrics.repost_count"
    assert (second.likes, second.reposts, second.replies) == (0, 0, 0)
    assert second.extra["missing_metrics"] == ("public_metrics.like_count,"
                                               "public_metrics.repost_count,public_metrics.reply_count")
    assert run.source.health.missing_metrics == 2 and run.source.health.posts == 2
    assert run.source.health.malformed == 0 and run.source.health.errors == 0


@pytest.mark.parametrize("left_out,effect", [
    ("created_at", "malformed"), ("public_metrics", "missing_metrics"),
    ("expansion", "missing_metrics"), ("entities", "no cashtags")])
async def test_a_field_missing_from_the_request_shows(server: FakeXServer,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      left_out: str, effect: str) -> None:
    """The local X sends only what the request asks for: a field the parser reads but the
    request forgot does not pass unnoticed (as it would against a server sending all)."""
    if left_out == "expansion":
        monkeypatch.setattr(source, "EXPANSIONS", [])
    else:
        monkeypatch.setattr(source, "TWEET_FIELDS", [f for f in source.TWEET_FIELDS
                                                     if f != left_out])
    async with running(server) as run:
        await server.push(server.tweet("$SPY calls", "trader", followers=5000, likes=3,
                                       cashtags=("SPY",)))
        await eventually_async(lambda: run.items, timeout=WAIT_S)

    if effect == "no cashtags":
        assert run.posts[0].tickers == () and run.source.health.missing_metrics == 0
    elif effect == "malformed":
        assert run.malformed[0].reason == f"missing field(s): {left_out}"
    else:
        [post] = run.posts
        assert run.source.health.missing_metrics == 1
        assert (post.followers, post.likes) == ((0, 3) if left_out == "expansion" else (5000, 0))
        assert post.author == ("trader" if left_out != "expansion" else post.extra["author_id"])


async def test_filters_drop_small_unverified_and_unengaged_authors(server: FakeXServer) -> None:
    async with running(server, x_min_followers=1000, x_verified_only=True,
                       x_min_engagement=10) as run:
        await server.push(server.tweet("few followers", "small", followers=10, verified=True, likes=50))
        await server.push(server.tweet("not verified", "anon", followers=9000, likes=50))
        # 3 likes + 2 * 2 reposts + 2 replies = 9 < 10
        await server.push(server.tweet("quiet", "quiet", followers=9000, verified=True,
                                       likes=3, reposts=2, replies=2))
        await server.push(server.tweet("loud", "loud", followers=9000, verified=True,
                                       likes=4, reposts=2, replies=2))
        await eventually_async(lambda: run.posts, timeout=WAIT_S)
        await eventually_async(lambda: run.source.health.filtered == 3, timeout=WAIT_S)

    assert [p.author for p in run.posts] == ["loud"]
    assert run.source.health.posts == 1


async def test_malformed_lines_become_malformed_and_the_stream_goes_on(server: FakeXServer) -> None:
    async with running(server) as run:
        await server.push(b"{not json")
        await server.push({"includes": {"users": []}})
        await server.push({"data": {"id": "5", "text": "no author or date"}})
        await server.push({"errors": [{"title": "operational-disconnect"}]})
        await server.push(server.tweet("still flowing", "after"))
        await eventually_async(lambda: run.posts, timeout=WAIT_S)

    assert run.malformed[0].payload == b"{not json"
    reasons = [m.reason for m in run.malformed]
    assert reasons[0].startswith("not JSON") and reasons[1] == "no data object"
    assert reasons[2] == "missing field(s): author_id, created_at"
    assert run.source.health.malformed == 3
    assert run.source.health.last_error == "stream errors: operational-disconnect"
    assert run.posts[0].text == "still flowing"


# ---- robustness -----------------------------------------------------------------------------
async def test_a_dropped_stream_is_resumed(server: FakeXServer) -> None:
    async with running(server) as run:
        await server.push(server.tweet("before the drop", "a"))
        await eventually_async(lambda: run.posts, timeout=WAIT_S)
        assert await server.drop() == 1
        await eventually_async(lambda: run.source.health.reconnects == 1, timeout=WAIT_S)
        await eventually_async(lambda: server.connected, timeout=WAIT_S)
        await server.push(server.tweet("after the drop", "b"))
        await eventually_async(lambda: len(run.posts) == 2, timeout=WAIT_S)

    assert [p.text for p in run.posts] == ["before the drop", "after the drop"]
    assert run.source.health.errors >= 1
    assert server.count("/2/tweets/search/stream") == 2


async def test_rate_limits_are_waited_out_until_the_announced_reset(server: FakeXServer) -> None:
    server.rules_faults.append("429")    # tweepy's wait_on_rate_limit sleeps past the reset
    server.stream_faults.append("429")   # ours waits for it (the backoff alone is 0.05 s)

    async with running(server) as run:
        await server.push(server.tweet("after the limits", "a"))
        await eventually_async(lambda: run.posts, timeout=WAIT_S)
        assert run.source.health.connected

    rules = [r["at"] for r in server.requests if r["path"].endswith("/rules") and r["method"] == "GET"]
    stream = [r["at"] for r in server.requests if r["path"] == "/2/tweets/search/stream"]
    assert len(rules) == 2 and rules[1] >= server.resets[0]
    assert len(stream) == 2 and stream[1] >= server.resets[1]
    assert run.source.health.rate_limited == 2
    assert run.source.health.reconnects == 0


async def test_server_errors_are_backed_off_and_counted(server: FakeXServer) -> None:
    server.stream_faults.extend(["503", "503"])

    async with running(server) as run:
        await server.push(server.tweet("recovered", "a"))
        await eventually_async(lambda: run.posts, timeout=WAIT_S)

    assert server.count("/2/tweets/search/stream") == 3
    assert run.source.health.errors == 2 and run.source.health.last_error.endswith("HTTP 503")


# ---- credentials ----------------------------------------------------------------------------
def test_no_token_no_source() -> None:
    assert x_source(XSettings(_env_file=None), ("SPY",)) is None  # type: ignore[call-arg]
    assert x_source(XSettings(_env_file=None, x_bearer_token=""), ("SPY",)) is None  # type: ignore[call-arg]
    assert isinstance(x_source(XSettings(_env_file=None, x_bearer_token="t"), ("SPY",)), XSource)  # type: ignore[call-arg]


async def test_the_token_is_never_logged_nor_in_health(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeXServer(bearer_token="another-token") as wrong:   # answers 401
        source = XSource(settings_for(wrong), ("SPY",), backoff_base_s=0.05)
        consumer = asyncio.create_task(anext(aiter(source.items()), None))
        await eventually_async(lambda: source.health.errors >= 2, timeout=WAIT_S)
        await source.stop()
        await asyncio.wait_for(consumer, 5)

    assert "Unauthorized" in source.health.last_error
    assert any(r.name.startswith("tweepy") for r in caplog.records)   # tweepy did log headers
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(source.health)
