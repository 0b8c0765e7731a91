"""Latency from traces: per stage and end to end, in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

STAGES = ("ingest", "score", "aggregate", "signal", "execute")


def stage_latencies(trace: Mapping[str, int]) -> dict[str, float]:
    """Per-stage latency (ms) from one record's trace.

    A stage's latency runs from the previous stage's emission (``<prev>_out``, or the
    receipt ``ingest_in`` for the first stage) to its own emission (``<stage>_out``), so
    it includes the Kafka hop into it; a stage missing from the trace is skipped.
    ``post_to_order`` runs from receipt to order.
    """
    out: dict[str, float] = {}
    previous = trace.get("ingest_in")
    for stage in STAGES:
        emitted = trace.get(f"{stage}_out")
        if emitted is None:
            continue
        if previous is not None:
            out[stage] = (emitted - previous) / 1000
        previous = emitted
    if "ingest_in" in trace and "execute_out" in trace:
        out["post_to_order"] = (trace["execute_out"] - trace["ingest_in"]) / 1000
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def summarize(samples: Iterable[float]) -> dict[str, float]:
    """``{"n", "p50", "p95", "p99", "max"}`` of latency samples."""
    values = sorted(samples)
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1] if values else float("nan"),
    }
