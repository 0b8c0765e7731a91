"""Prometheus metrics of one process: what every stage handled, how long it took, how it
ended; and the text a ``/metrics`` endpoint answers.

Names follow Prometheus' conventions (``stocktracker_`` prefix, base units, ``_total`` on
counters, ``_seconds`` on durations). Each process keeps its own registry: a scrape of one
worker says what that worker did; sums across workers are Prometheus' job (``sum by``), and
global trading figures (positions, P&L, orders by status) come from the dashboard, which
reads every topic whole (docs/operations.md, "Metrics").
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

# Stage handling: from well under a millisecond (a table update) to a few seconds (an
# LLM call past its deadline); the 200 ms news-to-order budget sits between buckets.
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
OK, DEAD_LETTERED = "ok", "deadletter"


class StageMetrics:
    """How each stage (agent) of this process handled its records.

    Attributes
    ----------
    registry:
        This process' registry (collectors of the worker's state are added to it).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.seconds = Histogram(
            "stocktracker_stage_handle_seconds", "Time a stage spent on one record.",
            ["stage"], buckets=STAGE_BUCKETS, registry=self.registry)
        self.records = Counter(
            "stocktracker_stage_records", "Records a stage took, by how it ended "
            "(ok, or deadletter: undecodable or its handling raised).",
            ["stage", "outcome"], registry=self.registry)

    def handled(self, stage: str, seconds: float, ok: bool) -> None:
        """One record through ``stage`` in ``seconds``; ``ok`` False: dead-lettered."""
        self.seconds.labels(stage).observe(max(seconds, 0.0))
        self.records.labels(stage, OK if ok else DEAD_LETTERED).inc()


def family(kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, documentation: str,
           values: Mapping[str, float], label: str | None = None) -> Metric:
    """A family read at scrape time (a collector's): one sample per ``values`` item,
    labelled ``label`` with its key, sorted; without ``label``, the value under ``""``."""
    built = kind(name, documentation, labels=[label] if label else None)
    for key, value in sorted(values.items()):
        built.add_metric([key] if label else [], float(value))
    return built


def single(kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, documentation: str,
           value: float) -> Metric:
    """A family of one unlabelled value."""
    return family(kind, name, documentation, {"": value})


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


PROCESS = StageMetrics()
"""This process' stage metrics (one registry per process, as Prometheus clients keep it)."""
