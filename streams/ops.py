"""The worker's operations port: ``/metrics`` (Prometheus), ``/live`` and ``/ready``.

Served by a small aiohttp server on ``STREAM_WEB_HOST:STREAM_WEB_PORT`` (one port per
worker), run as a Faust task so it lives and dies with the worker. A port already taken
is logged and the worker goes on without it: trading never waits on its own monitoring.

- ``/live``: 200 while the worker's event loop answers.
- ``/ready``: 200 once the worker holds partitions, is not rebalancing, its tables are
  recovered and, on the account's owner, reconciliation with the broker is done; else 503.
  Both answer JSON saying which condition holds (:func:`readiness`).
- ``/metrics``: this process' stage metrics (:mod:`streams.core.metrics`) and, read at
  each scrape (:class:`WorkerCollector`), readiness, ownership, consumer lag per
  partition, the hosted LLMs' calls, tokens and estimated cost, and the ensemble's counts.

Every :data:`READY_EVERY_S` each worker also publishes its readiness and whether it owns
the account as ``worker_ready`` and ``worker_owner`` records on ``metrics`` (labels
``stage=worker``, ``worker=<id>``): the dashboard cannot reach the workers' ports, but it
reads that topic, and lists each worker with its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stocktracker.agents.base import send_metric
from stocktracker.streams.core.metrics import PROCESS, exposition, single
from stocktracker.streams.core.trace import now_us

if TYPE_CHECKING:
    from stocktracker.streams.pipeline import Pipeline

log = logging.getLogger(__name__)
LLM_OUTCOMES = ("answers", "errors", "timeouts", "nonsense")
READY_EVERY_S = 10.0  # each worker's readiness onto ``metrics``, for the dashboard


def readiness(p: Pipeline) -> dict[str, Any]:
    """Whether the worker is ready to process, and each condition (see the module doc)."""
    app = p.app
    assigned = _assignment(p)
    recovery = getattr(getattr(app, "tables", None), "recovery", None)
    recovered = bool(recovery is not None and recovery.completed.is_set())
    owner = p.ownership.owns()
    state = {
        "partitions": len(assigned),
        "rebalancing": bool(getattr(app, "rebalancing", False)),
        "tables_recovered": recovered,
        "owner": owner,
        "reconciled": p.reconciled.is_set(),
    }
    state["ready"] = (state["partitions"] > 0 and not state["rebalancing"] and recovered
                      and (not owner or state["reconciled"]))
    return state


def _assignment(p: Pipeline) -> set[Any]:
    consumer = getattr(p.app, "consumer", None)
    if consumer is None:
        return set()
    with contextlib.suppress(Exception):  # not started, or between assignments
        return set(consumer.assignment())
    return set()


def consumer_lag(p: Pipeline) -> dict[tuple[str, int], int]:
    """Messages not yet read per assigned partition: the log end offset the consumer last
    saw less the next offset it will read (0 when it cannot tell)."""
    consumer: Any = p.app.consumer
    lag: dict[tuple[str, int], int] = {}
    for tp in _assignment(p):
        try:
            end = int(consumer.highwater(tp) or 0)
        except Exception:  # no fetch yet on this partition
            continue
        read = consumer._read_offset.get(tp)  # the last offset taken (Faust keeps it)
        committed = consumer._committed_offset.get(tp)
        following = read + 1 if read is not None else committed if committed is not None else end
        lag[(tp.topic, tp.partition)] = max(end - following, 0)
    return lag


class WorkerCollector(Collector):
    """The worker's state, read at each scrape (nothing is counted twice: LLM usage and the
    ensemble's counts are totals this process keeps)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        state = readiness(self.p)
        yield single(GaugeMetricFamily, "stocktracker_worker_ready",
                     "1 when the worker is ready (GET /ready).", float(state["ready"]))
        yield single(GaugeMetricFamily, "stocktracker_account_owner",
                     "1 while this worker owns the trading account.", float(state["owner"]))
        yield single(GaugeMetricFamily, "stocktracker_account_reconciled",
                     "1 once the owner has reconciled with the broker this term.",
                     float(state["reconciled"] and state["owner"]))
        lag = GaugeMetricFamily("stocktracker_consumer_lag_messages",
                                "Messages not yet read, per assigned partition.",
                                labels=["topic", "partition"])
        with contextlib.suppress(Exception):
            for (topic, partition), behind in sorted(consumer_lag(self.p).items()):
                lag.add_metric([topic, str(partition)], float(behind))
        yield lag
        yield from _llm_families(self.p)


def _llm_families(p: Pipeline) -> Iterator[Metric]:
    calls = CounterMetricFamily("stocktracker_llm_calls", "Hosted LLM calls by outcome "
                                "(answers, errors, timeouts, nonsense).", labels=["model", "outcome"])
    tokens = CounterMetricFamily("stocktracker_llm_tokens", "Tokens billed, by direction.",
                                 labels=["model", "direction"])
    cost = CounterMetricFamily("stocktracker_llm_cost_dollars",
                               "Estimated cost of the hosted LLM calls, $.", labels=["model"])
    for model in p.ensemble.llms:
        usage = model.usage
        for outcome in LLM_OUTCOMES:
            calls.add_metric([model.name, outcome], float(getattr(usage, outcome)))
        tokens.add_metric([model.name, "in"], float(usage.tokens_in))
        tokens.add_metric([model.name, "out"], float(usage.tokens_out))
        cost.add_metric([model.name], usage.cost_usd)
    yield from (calls, tokens, cost)
    stats = p.ensemble.stats
    yield single(CounterMetricFamily, "stocktracker_posts_scored", "Posts the ensemble scored.",
                 float(stats.posts))
    yield single(CounterMetricFamily, "stocktracker_score_cache_hits",
                 "Posts scored from the cache (a repeat).", float(stats.cache_hits))


def make_app(p: Pipeline) -> web.Application:
    """The aiohttp application of the operations port."""
    registry = PROCESS.registry
    collector = WorkerCollector(p)
    with contextlib.suppress(ValueError):  # one per registry: a second pipeline reuses it
        registry.register(collector)

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = exposition(registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def live(request: web.Request) -> web.Response:
        return web.json_response({"live": True, "worker": p.worker_id})

    async def ready(request: web.Request) -> web.Response:
        state = readiness(p)
        return web.Response(text=json.dumps({**state, "worker": p.worker_id}),
                            status=200 if state["ready"] else 503, content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/live", live)
    app.router.add_get("/ready", ready)
    return app


def register(p: Pipeline) -> None:
    """Serve the operations port while the worker runs (a Faust task)."""
    stream = p.settings.stream

    async def serve_operations_port() -> None:
        runner = web.AppRunner(make_app(p), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, stream.web_host, stream.web_port).start()
        except OSError as exc:
            log.warning("operations port %s:%d not served (%s): no /metrics, /ready here",
                        stream.web_host, stream.web_port, exc)
            await runner.cleanup()
            return
        log.info("operations port on http://%s:%d (/metrics, /live, /ready)", stream.web_host,
                 stream.web_port)
        try:
            await _forever()
        finally:
            await runner.cleanup()

    p.app.task(serve_operations_port)

    async def publish_readiness() -> None:
        state, at = readiness(p), now_us()
        labels = {"stage": "worker", "worker": p.worker_id}
        for name, value in (("worker_ready", state["ready"]), ("worker_owner", state["owner"])):
            await send_metric(p, p.worker_id, name, value, labels, at)

    p.app.timer(READY_EVERY_S)(publish_readiness)


async def _forever() -> None:
    await asyncio.Event().wait()
