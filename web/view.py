"""The dashboard's in-memory view of the pipeline, built from the records it reads. Pure.

:meth:`DashboardView.apply` takes one decoded record of one topic (and the wall-clock µs
it was read at) and returns the Socket.IO events it causes. The view owns no trading
state: the switches and limits shown are those the account's owner last published on
``switches`` (commands on ``control`` are only the audit of what was sent: see
:mod:`web.commands`), positions are the book agent's ``positions`` records marked at the
latest quote mid, with the exits agent's flags (``stale``: no fresh quote; ``stranded``: its
exit was refused too often, the operator must act).
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any

from stocktracker.domain.latency import stage_latencies
from stocktracker.domain.positions import unrealized
from stocktracker.web.alert_view import Activity, AlertTrail
from stocktracker.web.commands import CommandTrail
from stocktracker.web.events import ALERT, POSITION, SENTIMENT, SIGNAL, TRADE, Event
from stocktracker.web.stats import LatencyWindow, RateMeter
from stocktracker.web.vol_view import VolPanel

# which stage's latency each topic's records tell (an order's later states repeat its trace)
STAGE_OF = {"posts": "ingest", "scores": "score", "sentiment": "aggregate",
            "signals": "signal", "orders": "execute"}
CLOCK_TOPICS = frozenset({"posts", "scores", "sentiment", "signals", "orders", "fills", "quotes"})


def origin_us(trace: Mapping[str, int]) -> int:
    """When the record left its producing stage: the latest ``*_out`` stamp (0 if none)."""
    return max((v for k, v in trace.items() if k.endswith("_out")), default=0)


def _ms(us: int) -> int:
    return us // 1000


def _outcome(order: Mapping[str, Any]) -> dict[str, Any]:
    return {k: order[k] for k in ("status", "reason", "client_order_id", "symbol", "qty",
                                  "filled_qty", "filled_avg_price")}


def _bounded_put(store: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > size:
        store.popitem(last=False)


class DashboardView:
    """Signals, orders, fills, positions, sentiment, control, metrics and errors, bounded.

    Parameters
    ----------
    history:
        Signals, orders, fills, errors, audit entries and chart points kept.
    latency_samples:
        Latency samples kept per stage for the rolling percentiles.
    """

    def __init__(self, history: int = 500, latency_samples: int = 5000,
                 on_latency: Callable[[str, float], None] | None = None) -> None:
        self.history = history
        self.latency = LatencyWindow(latency_samples)
        self.on_latency = on_latency  # each latency sample (stage, ms) as it is added
        self.order_updates: Counter[str] = Counter()  # each order's change of status, once
        self.rates = RateMeter()
        self.counts: Counter[str] = Counter()
        self.clock_us = 0  # the pipeline's event time: the latest seen
        self.signals: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.orders: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.order_of_signal: OrderedDict[str, str] = OrderedDict()  # topics interleave freely
        self.fills: deque[dict[str, Any]] = deque(maxlen=history)
        self.positions: dict[str, dict[str, Any]] = {}
        self.marks: dict[str, float] = {}
        self.sentiment: dict[str, deque[dict[str, Any]]] = {}
        self.latency_points: deque[dict[str, Any]] = deque(maxlen=history)
        self.commands = CommandTrail(history)  # the owner's state and the commands sent
        self.metrics: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
        self.component_seen: dict[str, int] = {}
        self.topic_seen: dict[str, int] = {}
        self.dead: Counter[str] = Counter()
        self.errors: deque[dict[str, Any]] = deque(maxlen=history)
        self.alerts = AlertTrail(history)  # the alerts and their audit trail
        self.activity = Activity()  # what the alert rules count over time
        self.vol = VolPanel()  # the LLM's volatility read beside the measured regime

    def apply(self, topic: str, record: Mapping[str, Any], seen_us: int) -> list[Event]:
        """Fold one record into the view; returns the events it causes."""
        self.counts[topic] += 1
        self.rates.add(topic, seen_us)
        self.topic_seen[topic] = seen_us
        if topic in CLOCK_TOPICS:
            self.clock_us = max(self.clock_us, int(record["event_time"]))
        trace = record.get("trace") or {}
        self._latency(topic, record, trace, seen_us)
        handler = getattr(self, f"_on_{topic}", None)
        if handler is None:
            return []
        events: list[Event] = handler(record, seen_us, origin_us(trace) or seen_us)
        return events

    def _latency(self, topic: str, record: Mapping[str, Any], trace: Mapping[str, int],
                 seen_us: int) -> None:
        if topic not in STAGE_OF or (topic == "orders" and record["client_order_id"] in self.orders):
            return
        lat = stage_latencies(trace)
        for stage in (STAGE_OF[topic], "post_to_order"):
            if stage in lat:
                self.latency.add(stage, lat[stage])
                if stage == "post_to_order":
                    self.activity.post_to_order.append((seen_us, lat[stage]))
                if self.on_latency is not None:
                    self.on_latency(stage, lat[stage])

    def _on_sentiment(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        payload = {k: r[k] for k in ("ticker", "mean", "decayed", "confidence", "posts", "authors",
                                     "engagement", "momentum", "tumbling_mean")}
        payload.update(t=_ms(r["event_time"]), window_start=_ms(r["window_start"]),
                       llm_vol=r.get("llm_vol"))
        return [Event(SENTIMENT, r["ticker"], payload, origin), *self.vol.sentiment(r, origin)]

    def add_sentiment_point(self, point: dict[str, Any]) -> None:
        """Keep a point the browser was sent (the chart's history for new viewers)."""
        points = self.sentiment.setdefault(point["ticker"], deque(maxlen=self.history))
        points.append(point)

    def _on_signals(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        payload = {k: r[k] for k in ("id", "ticker", "direction", "strength", "confidence", "posts",
                                     "authors", "reason", "momentum", "engagement")}
        payload.update({k: r.get(k) for k in ("llm_vol", "measured_regime", "vol_agreement")})
        order = self.orders.get(self.order_of_signal.get(r["id"], ""))
        payload.update(t=_ms(r["event_time"]), outcome=_outcome(order) if order else None)
        _bounded_put(self.signals, r["id"], payload, self.history)
        return [Event(SIGNAL, r["id"], payload, origin), *self.vol.signal(r, origin)]

    def _on_orders(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        order = {k: r[k] for k in ("client_order_id", "signal_id", "underlying", "symbol", "side",
                                   "option_type", "strike", "qty", "order_type", "limit_price",
                                   "status", "reason", "intent", "filled_qty", "filled_avg_price",
                                   "broker", "sizing")}
        order["t"] = _ms(r["event_time"])
        before = self.orders.get(r["client_order_id"])
        if before is None and r["client_order_id"] in self.activity.order_ids:
            before = {"status": None}  # an old order (out of the bounded list) changing state
        self.activity.order(r, before, seen)
        if self.orders.get(r["client_order_id"], {}).get("status") != r["status"]:
            self.order_updates[r["status"]] += 1  # a record read twice is not a new status
        _bounded_put(self.orders, r["client_order_id"], order, self.history)
        if not r["signal_id"]:
            return []
        _bounded_put(self.order_of_signal, r["signal_id"], r["client_order_id"], self.history)
        signal = self.signals.get(r["signal_id"])
        if signal is None:  # the order was read before its signal: the signal will pick it up
            return []
        signal["outcome"] = _outcome(order)
        return [Event(SIGNAL, signal["id"], dict(signal), origin)]

    def _on_fills(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        fill = {k: r[k] for k in ("client_order_id", "underlying", "symbol", "side", "qty", "price",
                                  "commission")}
        order = self.orders.get(r["client_order_id"], {})
        fill.update(t=_ms(r["event_time"]), reason=order.get("reason") or "",  # long only:
                    intent=order.get("intent") or ("open" if r["side"] == "buy" else "close"))
        self.fills.append(fill)
        self.activity.fill(r, seen)
        return [Event(TRADE, None, fill, origin)]

    def _on_positions(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        position = {k: r[k] for k in ("underlying", "symbol", "qty", "avg_price", "realized_pnl",
                                      "stale", "stranded")}
        position["t"] = _ms(r["event_time"])
        self.marks.setdefault(r["symbol"], r["mark"])
        self.positions[r["symbol"]] = position
        return [Event(POSITION, r["symbol"], self.position(r["symbol"]), origin)]

    def _on_quotes(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        if r["bid"] <= 0 or r["ask"] <= 0:
            return []
        symbol = r["symbol"]
        mid = (r["bid"] + r["ask"]) / 2
        before = self.marks.get(symbol)
        self.marks[symbol] = mid
        held = self.positions.get(symbol)
        if held is None or not held["qty"] or before == mid:
            return []
        return [Event(POSITION, symbol, self.position(symbol), origin)]

    def position(self, symbol: str) -> dict[str, Any]:
        """One position with its mark and P&L."""
        p = self.positions[symbol]
        mark = self.marks.get(symbol, p["avg_price"])
        open_pnl = unrealized(p, mark) if p["qty"] else 0.0
        return {**p, "mark": round(mark, 4), "unrealized_pnl": round(open_pnl, 2),
                "pnl": round(p["realized_pnl"] + open_pnl, 2)}

    def _on_control(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        self.commands.sent(r, origin)  # what was sent: pending until the owner answers
        return []

    def _on_switches(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        self.commands.answered(r, origin)  # an invalid state raises: counted, nothing changed
        return []

    def _on_metrics(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        labels = tuple(sorted(r["labels"].items()))
        self.metrics[(r["name"], labels)] = {"name": r["name"], "value": r["value"],
                                             "labels": dict(labels), "seen_us": seen}
        self.component_seen[r["labels"].get("stage", "unknown")] = seen
        return self.vol.metric(r, origin)

    def _on_alerts(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        shown = self.alerts.apply(r)
        return [Event(ALERT, r["id"], shown, origin)]

    def failed(self, topic: str, reason: str, seen_us: int) -> None:
        """Count a record the view could not fold (shown with the dead letters)."""
        self.dead["dashboard"] += 1
        self.errors.append({"stage": "dashboard", "topic": topic, "reason": reason[:300],
                            "t": _ms(seen_us), "at": _ms(seen_us)})

    def _on_deadletter(self, r: Mapping[str, Any], seen: int, origin: int) -> list[Event]:
        self.dead[r["stage"]] += 1
        self.errors.append({"stage": r["stage"], "topic": r["topic"], "reason": r["reason"][:300],
                            "t": _ms(r["event_time"]), "at": _ms(seen)})
        return []
