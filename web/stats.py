"""Rolling figures for the dashboard: latency samples per stage and rates per topic. Pure.

Time is passed in (wall-clock µs, read by the caller), never read here.
"""

from __future__ import annotations

from collections import defaultdict, deque

from stocktracker.domain.latency import summarize


class LatencyWindow:
    """The last ``size`` latency samples (ms) per stage, plus those since the last point.

    Parameters
    ----------
    size:
        Samples kept per stage for the rolling percentiles.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._rolling: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=size))
        self._since: dict[str, list[float]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, stage: str, ms: float) -> None:
        """Record one sample."""
        self._rolling[stage].append(ms)
        self._since[stage].append(ms)
        self.counts[stage] += 1

    def rolling(self) -> dict[str, dict[str, float]]:
        """``{stage: {n, p50, p95, p99, max}}`` over the kept samples, ``n`` = all seen."""
        out = {}
        for stage, values in self._rolling.items():
            figures = summarize(values)
            figures["n"] = self.counts[stage]
            out[stage] = figures
        return out

    def point(self) -> dict[str, dict[str, float]]:
        """``{stage: {n, p50, p99}}`` of the samples since the previous call (then reset)."""
        out = {}
        for stage, values in self._since.items():
            if values:
                figures = summarize(values)
                out[stage] = {"n": figures["n"], "p50": figures["p50"], "p99": figures["p99"]}
        self._since = defaultdict(list)
        return out


class RateMeter:
    """Events per second per name over the last ``span_s`` seconds, in 1 s buckets."""

    def __init__(self, span_s: int = 10) -> None:
        self.span_s = span_s
        self._buckets: dict[str, deque[list[int]]] = defaultdict(deque)

    def add(self, name: str, now_us: int, count: int = 1) -> None:
        """Count ``count`` events of ``name`` at ``now_us``."""
        second = now_us // 1_000_000
        buckets = self._buckets[name]
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += count
        else:
            buckets.append([second, count])
        while buckets and buckets[0][0] <= second - self.span_s:
            buckets.popleft()

    def rate(self, name: str, now_us: int) -> float:
        """Events per second of ``name`` over the span ending at ``now_us``."""
        second = now_us // 1_000_000
        total = sum(n for s, n in self._buckets.get(name, ()) if s > second - self.span_s)
        return total / self.span_s

    def rates(self, now_us: int) -> dict[str, float]:
        """Every name's rate."""
        return {name: round(self.rate(name, now_us), 3) for name in self._buckets}
