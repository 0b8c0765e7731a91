"""The dashboard's volatility panel: per ticker, the LLM's volatility read and the measured
regime side by side. Pure.

The LLM's read is the latest ``Sentiment`` record's window (the majority read, the counts of
low/normal/high, the mean width of the 90 % intervals). The measured regime is the market
agent's latest ``vol_regime`` metric for that underlying (published when it changes); before
one is seen, the regime the latest signal of that ticker measured. Whether they agree is
:func:`domain.vol_read.agreement`, the signal agent's own rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stocktracker.domain.vol_read import agreement
from stocktracker.web.events import VOLATILITY, Event


class VolPanel:
    """Each ticker's LLM read and measured regime, and the events they cause."""

    def __init__(self) -> None:
        self._reads: dict[str, dict[str, Any]] = {}
        self._regimes: dict[str, tuple[str, int]] = {}  # ticker -> (regime, event ms)
        self._signal_regimes: dict[str, tuple[str, int]] = {}

    def sentiment(self, r: Mapping[str, Any], origin: int) -> list[Event]:
        """A ``Sentiment`` record: the window's read of its ticker."""
        read = {"llm_vol": r.get("llm_vol"),
                "llm_vol_counts": {"low": int(r.get("llm_vol_low") or 0),
                                   "normal": int(r.get("llm_vol_normal") or 0),
                                   "high": int(r.get("llm_vol_high") or 0)},
                "llm_interval_width": r.get("llm_interval_width"),
                "llm_t": int(r["event_time"]) // 1000}
        ticker = r["ticker"]
        before = self._reads.get(ticker)
        self._reads[ticker] = read
        if before is not None and {**before, "llm_t": 0} == {**read, "llm_t": 0}:
            return []  # the same read: nothing new to show
        return [self._event(ticker, origin)]

    def metric(self, r: Mapping[str, Any], origin: int) -> list[Event]:
        """A ``Metric`` record: a ``vol_regime`` change of an underlying (others ignored)."""
        labels = r.get("labels") or {}
        if r["name"] != "vol_regime" or not labels.get("underlying") or not labels.get("regime"):
            return []
        ticker = labels["underlying"]
        when = int(r["event_time"]) // 1000
        if ticker in self._regimes and self._regimes[ticker][1] > when:
            return []  # an older change read late
        self._regimes[ticker] = (labels["regime"], when)
        return [self._event(ticker, origin)]

    def signal(self, r: Mapping[str, Any], origin: int) -> list[Event]:
        """A ``Signal`` record: the regime measured at its time (used until a metric comes)."""
        regime = r.get("measured_regime")
        if not regime:
            return []
        self._signal_regimes[r["ticker"]] = (regime, int(r["event_time"]) // 1000)
        return [] if r["ticker"] in self._regimes else [self._event(r["ticker"], origin)]

    def row(self, ticker: str) -> dict[str, Any]:
        """What the panel shows of ``ticker``."""
        read = self._reads.get(ticker, {"llm_vol": None, "llm_interval_width": None,
                                        "llm_vol_counts": {"low": 0, "normal": 0, "high": 0},
                                        "llm_t": None})
        regime, when = self._regimes.get(ticker) or self._signal_regimes.get(ticker) or (None, None)
        return {"ticker": ticker, **read, "measured_regime": regime, "regime_t": when,
                "agreement": agreement(read["llm_vol"], regime)}

    def rows(self) -> list[dict[str, Any]]:
        """Every ticker seen, by name."""
        return [self.row(t) for t in sorted(set(self._reads) | set(self._regimes)
                                            | set(self._signal_regimes))]

    def _event(self, ticker: str, origin: int) -> Event:
        return Event(VOLATILITY, ticker, self.row(ticker), origin)
