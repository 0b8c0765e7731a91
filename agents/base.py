"""The loop every agent shares: decode, handle, dead-letter what fails, keep going."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import faust

from stocktracker.schemas.codec import DecodeError
from stocktracker.streams.core.metrics import PROCESS
from stocktracker.streams.core.trace import now_us

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost, Handler

log = logging.getLogger(__name__)



def stage_agent(pipeline: AgentHost, topic: faust.TopicT, stage: str, record_name: str,
                handler: Handler, concurrency: int = 1) -> Any:
    """Register an agent named ``stage`` over ``topic`` that calls ``handler(record, received_us)``.

    Bytes that do not decode, and records whose handling raises, go to ``deadletter``
    with the reason and the original bytes; the next record is processed as usual. Each
    record's handling time and outcome go to this process' metrics
    (:data:`streams.core.metrics.PROCESS`, served on ``/metrics``).
    With ``concurrency`` > 1, that many records are handled at once (order across them is
    not kept; only for stages without tables).
    """
    if pipeline.broker.market_feed() is not None:  # the simulated broker keeps stream time
        inner = handler

        async def handler(record: dict[str, Any], received: int) -> None:
            feed = pipeline.broker.market_feed()  # the term's broker
            if feed is not None:
                feed.advance(int(record.get("event_time") or 0))
            await inner(record, received)

    if pipeline.add_stage(topic, stage, record_name, handler):
        return None  # a simulation drives the handlers itself (streams/simulation.py)
    topic_name = topic.get_topic_name()

    async def agent(stream: faust.StreamT) -> AsyncIterator[None]:
        async for event in stream.events():
            await _process(event, now_us())
            yield None  # one result per event: Faust's test context counts these

    async def _process(event: faust.EventT, received: int) -> None:
        started = time.perf_counter()
        ok = await _handle(event, received)
        PROCESS.handled(stage, time.perf_counter() - started, ok)

    async def _handle(event: faust.EventT, received: int) -> bool:
        """Decode and handle one event; False when it was dead-lettered."""
        try:
            record = pipeline.codec.decode(record_name, event.value, topic_name)
        except DecodeError as exc:
            await pipeline.dead_letter(event, stage, f"undecodable {record_name}: {exc}")
            return False
        try:
            await handler(record, received)
        except Exception as exc:
            log.exception("%s failed on %s", stage, topic_name)
            await pipeline.dead_letter(event, stage, f"{type(exc).__name__}: {exc}")
            return False
        return True

    registered = pipeline.app.agent(topic, name=stage, concurrency=concurrency)(agent)
    pipeline.agents[stage] = registered
    return registered


async def send_metric(p: AgentHost, key: str, name: str, value: float,
                      labels: dict[str, str], event_time: int) -> None:
    """One ``Metric`` record onto ``metrics`` (a health figure, a flag, a counter)."""
    await p.send(p.topics.metrics, "Metric", key, {
        "name": name, "value": float(value), "labels": labels, "event_time": event_time,
        "trace": {}})
