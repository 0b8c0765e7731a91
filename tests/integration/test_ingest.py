"""``stocktracker ingest`` end to end: the real tweepy and asyncpraw clients against local X
and Reddit APIs, the processing chain, and the idempotent producer into a real broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from stocktracker.connectors.base import Source
from stocktracker.connectors.ingest import IngestService, processor_from_settings
from stocktracker.connectors.reddit.config import RedditSettings
from stocktracker.connectors.reddit.source import RedditSource
from stocktracker.connectors.simulated.reddit_server import FakeRedditServer
from stocktracker.connectors.simulated.x_server import FakeXServer
from stocktracker.connectors.x.config import XSettings
from stocktracker.connectors.x.source import XSource
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.monitor import Monitor
from stocktracker.streams.core.producer import RecordProducer
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration

TOKEN = "x-bearer-for-ingest-test"


class Harness:
    def __init__(self, bootstrap: str, x: FakeXServer, reddit: FakeRedditServer) -> None:
        self.prefix = f"ingest{uuid.uuid4().hex[:8]}."
        self.bootstrap = bootstrap
        ensure_topics(bootstrap, self.prefix, 1, 1)
        codec = SingleObjectCodec()
        common: dict[str, Any] = {"_env_file": None, "reconnect_max_s": 0.5, "health_interval_s": 0.5,
                                  "min_relevance": 0.2}
        self.settings = XSettings(x_bearer_token=TOKEN, x_base_url=x.url, **common)
        from_reddit = RedditSettings(
            reddit_client_id="app", reddit_client_secret="reddit-secret-for-test",
            reddit_oauth_url=reddit.url, reddit_url=reddit.url,
            reddit_subreddits=("wallstreetbets", "options"), **common)
        self.sources: list[Source] = [
            XSource(self.settings, ("SPY",), backoff_base_s=0.05),
            RedditSource(from_reddit, ("SPY",), backoff_base_s=0.05, poll_min_s=0.05,
                         poll_max_s=0.2),
        ]
        self.producer = RecordProducer(bootstrap, codec, self.prefix)
        self.service = IngestService(self.settings, self.sources, self.producer,
                                     processor_from_settings(self.settings, ("SPY", "QQQ")))
        self.monitor = Monitor(bootstrap, codec, self.prefix,
                               keep=("posts", "deadletter", "metrics"))

    async def records(self, topic: str) -> list[dict[str, Any]]:
        await asyncio.to_thread(self.monitor.poll, 0.2)
        return self.monitor.records[topic]

    def close(self) -> None:
        self.monitor.close()
        delete_topics(self.bootstrap, topics_with_prefix(self.bootstrap, self.prefix))


@pytest.fixture
async def servers() -> AsyncIterator[tuple[FakeXServer, FakeRedditServer]]:
    async with FakeXServer(bearer_token=TOKEN, heartbeat_s=0.1) as x, \
            FakeRedditServer(client_id="app", client_secret="reddit-secret-for-test") as reddit:
        yield x, reddit


async def test_posts_flow_cleaned_deduplicated_and_ranked(
        kafka_bootstrap: str, servers: tuple[FakeXServer, FakeRedditServer]) -> None:
    x, reddit = servers
    h = Harness(kafka_bootstrap, x, reddit)
    stop = asyncio.Event()
    task = asyncio.create_task(h.service.run(stop))
    try:
        await eventually_async(lambda: x.connected)
        await eventually_async(lambda: reddit.listings("comments"))
        text = "$SPY calls printing 🚀 https://t.co/abc &amp; more   to come"
        await x.push(x.tweet(text, "trader1", followers=5000, likes=40, cashtags=("SPY",)))
        await x.push(x.tweet(text + " https://t.co/other", "spammer2", followers=10))  # repost
        await x.push(x.tweet("what a lovely morning", "poet", followers=50))  # no ticker
        await x.push(b'{"data": {"id": "1", "text": ')  # malformed line
        sub = reddit.submit("wallstreetbets", "SPY puts are free money",
                            "Fed tomorrow, loading 0DTE puts", score=120, num_comments=30)
        reddit.comment("options", "Rolling my SPY calls to next week", sub, score=8)

        posts = await eventually_async(lambda: _len_at_least(h, 3))
        by_source = {p["source"]: p for p in posts}
        tweet = next(p for p in posts if p["source"] == "x")
        assert tweet["id"].startswith("x:") and tweet["author"] == "trader1"
        assert tweet["text"] == "$SPY calls printing 🚀 & more to come"  # cleaned, emoji kept
        assert tweet["tickers"] == ["SPY"] and tweet["followers"] == 5000
        assert tweet["trace"]["ingest_in"] <= tweet["trace"]["ingest_out"]
        reddit_posts = [p for p in posts if p["source"] == "reddit"]
        assert {p["id"].split("_")[0] for p in reddit_posts} == {"reddit:t3", "reddit:t1"}
        assert "reddit" in by_source and all(p["tickers"] == ["SPY"] for p in reddit_posts)
        dead = await eventually_async(lambda: _now(h, "deadletter"))
        assert dead[0]["stage"] == "ingest" and dead[0]["payload"] == b'{"data": {"id": "1", "text":'
        await eventually_async(lambda: h.service.counts["dropped_near_duplicate"]
                               + h.service.counts["dropped_duplicate"] == 1)
        assert h.service.counts["dropped_no_ticker"] == 1
        assert len([p for p in posts if p["source"] == "x"]) == 1
        metrics = await eventually_async(lambda: [m for m in _now(h, "metrics")
                                                  if m["name"] == "source_connected"
                                                  and m["value"] == 1.0])
        assert {m["labels"]["source"] for m in metrics} == {"x", "reddit"}
        assert len(h.service.ack_us) >= 3 and all(us > 0 for us in h.service.ack_us)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        h.close()
    assert h.producer.failed == 0


async def test_a_full_buffer_holds_the_source_back(
        kafka_bootstrap: str, servers: tuple[FakeXServer, FakeRedditServer]) -> None:
    """With a one-item buffer and the writer stalled, the reader waits; nothing is lost."""
    x, reddit = servers
    h = Harness(kafka_bootstrap, x, reddit)
    h.service.queue = asyncio.Queue(1)
    gate = asyncio.Event()
    handle = h.service.handle

    def slow_handle(item: Any) -> None:
        handle(item)

    async def gated_write() -> None:
        await gate.wait()
        while True:
            item = await h.service.queue.get()
            slow_handle(item)
            h.service.queue.task_done()

    h.service._write = gated_write  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(h.service.run(stop))
    try:
        await eventually_async(lambda: x.connected)
        for i in range(5):
            await x.push(x.tweet(f"$SPY calls number {i} incoming, distinct text {i * 7919}",
                                 f"user{i}", followers=1000, likes=10, cashtags=("SPY",)))
        await eventually_async(lambda: h.service.queue.full())
        await asyncio.sleep(0.3)
        assert h.service.queue.qsize() == 1  # bounded: the rest waits upstream
        gate.set()
        posts = await eventually_async(lambda: _len_at_least(h, 5))
        assert len({p["id"] for p in posts}) == 5
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        h.close()


def _now(h: Harness, topic: str) -> list[dict[str, Any]]:
    h.monitor.poll(0.1)
    return h.monitor.records[topic]


def _len_at_least(h: Harness, n: int) -> list[dict[str, Any]] | None:
    posts = _now(h, "posts")
    return posts if len(posts) >= n else None
