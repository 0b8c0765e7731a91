"""The dashboard's ``/metrics``: the whole pipeline as one reader of every topic sees it.

Global figures belong here, not on the workers: the dashboard reads every topic whole,
so its positions, P&L, order statuses and end-to-end latencies are the account's, never a
sum over partitions (a worker's ``/metrics`` says what that worker did: see
:mod:`streams.ops`). Latencies are histograms fed as records arrive
(:meth:`DashboardMetrics.observe_latency`, the view's ``on_latency``); the rest is read
from the view under the feed's lock at each scrape (:class:`DashboardCollector`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stocktracker.domain.alerts import SEVERITIES
from stocktracker.streams.core.metrics import family, single
from stocktracker.web import report
from stocktracker.web.hub import Feed

# Per stage and news to order: the 200 ms budget and its neighbours are bucket bounds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0)


class DashboardMetrics:
    """The dashboard's registry: the latency histograms and the view's collector."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "stocktracker_latency_seconds", "Per-stage latency from the records' traces; "
            "stage post_to_order is news to order (the 200 ms budget).", ["stage"],
            buckets=LATENCY_BUCKETS, registry=self.registry)

    def observe_latency(self, stage: str, ms: float) -> None:
        """One latency sample (the view calls it for each one it keeps)."""
        self.latency.labels(stage).observe(max(ms, 0.0) / 1000)

    def watch(self, feed: Feed) -> None:
        """Read ``feed``'s view at each scrape, and get its latency samples from now on."""
        feed.view.on_latency = self.observe_latency
        self.registry.register(DashboardCollector(feed))


class DashboardCollector(Collector):
    """Records seen, dead letters, order statuses, positions and P&L, from the view."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        with self.feed.lock:
            view = self.feed.view
            counts, dead = dict(view.counts), dict(view.dead)
            statuses = dict(view.order_updates)
            book = report.positions(view)
            clock_us = view.clock_us
            firing = view.alerts.firing()
        yield family(CounterMetricFamily, "stocktracker_records_seen", "Records read, by topic.",
                     counts, "topic")
        yield family(CounterMetricFamily, "stocktracker_deadletters_seen",
                     "Dead-lettered records read, by the stage that refused them.", dead, "stage")
        yield family(CounterMetricFamily, "stocktracker_order_updates",
                     "Order records by status (each order's change of status counted once).",
                     statuses, "status")
        contracts = GaugeMetricFamily("stocktracker_position_contracts",
                                      "Contracts held, per option.", labels=["underlying", "symbol"])
        for row in book["positions"]:
            if row["qty"]:
                contracts.add_metric([row["underlying"], row["symbol"]], float(row["qty"]))
        yield contracts
        yield single(GaugeMetricFamily, "stocktracker_open_positions", "Options held.",
                     float(book["open"]))
        yield family(GaugeMetricFamily, "stocktracker_pnl_dollars",
                     "The day's P&L, $: realized, unrealized (at the marks) and total.",
                     book["pnl"], "kind")
        alerts = GaugeMetricFamily("stocktracker_alerts_firing",
                                   "Alerts firing now, by severity (acknowledged ones included).",
                                   labels=["severity", "acknowledged"])
        for severity in SEVERITIES:
            for acked in (False, True):
                alerts.add_metric([severity, str(acked).lower()], float(sum(
                    1 for a in firing
                    if a["severity"] == severity and bool(a["acknowledged_by"]) == acked)))
        yield alerts
        yield single(GaugeMetricFamily, "stocktracker_pipeline_clock_seconds",
                     "The pipeline's event time: the latest record's (seconds since the epoch).",
                     clock_us / 1e6)

