"""Agents through Faust's test context (memory store, no Kafka): records in, records out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from stocktracker.agents.orders import reconcile_at_start
from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.domain.orders import BrokerPosition
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.pipeline import Pipeline
from stocktracker.streams.samples import at, post
from tests.waiting import eventually_async


class Sink:
    """Collects what the agents send, by topic suffix, decoded."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {}
        self.codec = pipeline.codec

        async def send(topic: Any, record_name: str, key: str, record: dict[str, Any]) -> None:
            # round-trip through the codec so a record that would not encode fails here
            data = self.codec.encode(record_name, record)
            name = topic.get_topic_name().split(".")[-1]
            self.sent.setdefault(name, []).append(self.codec.decode(record_name, data))

        pipeline.send = send  # type: ignore[method-assign]


@pytest.fixture
def pipeline(run_settings: Callable[..., Settings]) -> Pipeline:
    p = Pipeline(run_settings(store="memory://"), codec=SingleObjectCodec())
    p.app.finalize()
    p.app.conf.store = "memory://"
    p.app.flow_control.resume()
    return p


async def test_score_agent_scores_tickers_and_dead_letters_bad_bytes(
        pipeline: Pipeline) -> None:
    sink = Sink(pipeline)
    dead: list[tuple[str, str]] = []

    async def dead_letter(event: Any, stage: str, reason: str) -> None:
        dead.append((stage, reason))

    pipeline.dead_letter = dead_letter  # type: ignore[method-assign]
    codec = pipeline.codec
    async with pipeline.agents["score"].test_context() as agent:
        record = post("p1", "alice", "$SPY and $QQQ breaking out, loading calls 🚀", at(15, 0))
        await agent.put(codec.encode("Post", record), key=b"p1")
        await agent.put(b"{not avro}", key=b"x")
        await agent.put(codec.encode("Post", post("p2", "bob", "$SPY puts 📉", at(15, 1))),
                        key=b"p2")
    scores = sink.sent["scores"]
    assert [s["ticker"] for s in scores] == ["SPY", "QQQ", "SPY"]
    assert scores[0]["score"] > 0.3 and scores[0]["label"] == "bullish"
    assert scores[0]["models"][0]["model"] == "lexicon"
    assert scores[0]["trace"]["score_out"] >= scores[0]["trace"]["score_in"]
    assert dead and dead[0][0] == "score" and "undecodable Post" in dead[0][1]
    assert scores[2]["score"] < 0, "the post after the bad bytes was not scored"


class UnreachableAtFirst(SimulatedBroker):
    """A broker whose positions cannot be read the first ``failures`` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.asked = 0

    async def positions(self) -> list[BrokerPosition]:
        self.asked += 1
        if self.asked <= self.failures:
            raise ConnectionError("broker unreachable")
        return await super().positions()


async def test_start_up_reconciliation_is_retried_and_holds_orders_until_it_succeeds(
        pipeline: Pipeline) -> None:
    broker = UnreachableAtFirst(failures=2)
    pipeline.broker = broker
    attempt = asyncio.ensure_future(reconcile_at_start(pipeline, first_delay_s=0.01))
    await eventually_async(lambda: broker.asked >= 2, interval=0.005)
    assert not pipeline.reconciled.is_set(), "orders allowed before reconciliation"
    counts = await asyncio.wait_for(attempt, 5)
    assert broker.asked == 3 and pipeline.reconciled.is_set()
    assert counts == {"open_orders": 0, "executions": 0, "positions": 0, "mismatched": 0}
