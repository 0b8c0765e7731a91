"""Hand-made records on one reference trading day, Tuesday 2026-11-24, for tests, benchmarks
and local runs.

What comes into the pipeline, as the connectors produce it: a post (:func:`post`) and an
option chain with its underlying's quote (:func:`chain`), at a moment of the day (:func:`at`).
What the pipeline writes, round-tripped through the Avro codec as a reader sees it:
:func:`sentiment`, :func:`signal`, :func:`order`, :func:`fill`, :func:`position`,
:func:`quote`, :func:`control`, :func:`switches`, :func:`metric`, :func:`dead`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from stocktracker.domain.control import ControlState, state_params
from stocktracker.domain.pricing import bs_price, implied_vol_skew, occ_symbol, year_fraction_us
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.core.trace import now_us

CLOSE = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # the session's close, 16:00 New York
T0 = 1_795_533_000_000_000  # 2026-11-24 15:10 UTC, µs: when the output records happen
CODEC = SingleObjectCodec()


def at(hour: int, minute: int, second: int = 0) -> int:
    """µs of a UTC time on the reference day (2026-11-24)."""
    return int(datetime(2026, 11, 24, hour, minute, second, tzinfo=UTC).timestamp() * 1e6)


def post(pid: str, author: str, text: str, event_us: int) -> dict[str, Any]:
    """A Post record as a connector would produce it."""
    return {"id": pid, "source": "test", "author": author, "text": text, "tickers": [],
            "followers": 100, "likes": 5, "reposts": 1, "replies": 1, "url": None,
            "lang": "en", "event_time": event_us, "trace": {"ingest_in": now_us()}}


def chain(event_us: int, spot: float = 590.0, underlying: str = "SPY") -> list[dict[str, Any]]:
    """The underlying's quote and a 0DTE chain around ``spot`` at ``event_us``."""
    close_us = int(CLOSE.timestamp() * 1e6)
    expiry = CLOSE.date()
    quotes = [{"symbol": underlying, "underlying": underlying, "bid": spot - 0.01,
               "ask": spot + 0.01, "bid_size": 100, "ask_size": 100, "option_type": None,
               "strike": None, "expiry": None, "iv": None, "delta": None,
               "event_time": event_us, "trace": {}}]
    t = year_fraction_us(event_us, close_us)
    for strike in range(int(spot) - 3, int(spot) + 4):
        iv = implied_vol_skew(spot, strike, 0.15)
        for kind in ("call", "put"):
            price = bs_price(spot, strike, t, iv, 0.04, kind)
            quotes.append({
                "symbol": occ_symbol(underlying, expiry, kind, strike),
                "underlying": underlying, "bid": round(price - 0.02, 2),
                "ask": round(price + 0.02, 2), "bid_size": 10, "ask_size": 10,
                "option_type": kind, "strike": float(strike), "expiry": expiry.isoformat(),
                "iv": iv, "delta": None, "event_time": event_us, "trace": {}})
    return quotes


def _avro(name: str, record: dict[str, Any]) -> dict[str, Any]:
    return CODEC.decode(name, CODEC.encode(name, record))


def trace(*stages: str, start: int | None = None, step_us: int = 2_000) -> dict[str, int]:
    """A trace through ``stages`` (``ingest_in`` first), ``step_us`` per hop, ending now."""
    stamps = ["ingest_in", *[f"{s}_out" for s in stages]]
    end = start if start is not None else now_us()
    first = end - step_us * (len(stamps) - 1)
    return {k: first + n * step_us for n, k in enumerate(stamps)}


def sentiment(ticker: str = "SPY", mean: float = 0.4, at: int = T0, posts: int = 5,
              **fields: Any) -> dict[str, Any]:
    return _avro("Sentiment", {**fields,
        "ticker": ticker, "window_start": at - 300_000_000, "window_end": at, "mean": mean,
        "decayed": mean * 0.9, "confidence": 0.6, "posts": posts, "authors": posts, "engagement": 40,
        "tumbling_mean": mean, "tumbling_posts": 2, "momentum": 0.1, "event_time": at,
        "trace": trace("ingest", "score", "aggregate")})


def signal(sid: str = "SPY:bullish:1", at: int = T0, **fields: Any) -> dict[str, Any]:
    return _avro("Signal", {**fields,
        "id": sid, "ticker": "SPY", "direction": "bullish", "strength": 0.45, "confidence": 0.7,
        "posts": 6, "authors": 5, "window_start": at - 300_000_000,
        "reason": "mean 0.45 >= 0.25, 6 posts, 5 authors", "momentum": 0.2, "engagement": 50,
        "event_time": at, "trace": trace("ingest", "score", "aggregate", "signal")})


def order(coid: str = "st-1", sid: str = "SPY:bullish:1", status: str = "rejected",
          reason: str | None = "paused", intent: str = "open", at: int = T0,
          broker_order_id: str = "b-1") -> dict[str, Any]:
    return _avro("Order", {
        "client_order_id": coid, "signal_id": sid, "underlying": "SPY",
        "symbol": "SPY261124C00590000", "side": "buy" if intent == "open" else "sell",
        "option_type": "call", "strike": 590.0, "expiry": "2026-11-24", "qty": 2,
        "order_type": "limit", "limit_price": 1.25, "status": status, "reason": reason,
        "broker": "simulated", "intent": intent, "filled_qty": 2 if status == "filled" else 0,
        "filled_avg_price": 1.25 if status == "filled" else 0.0, "broker_order_id": broker_order_id,
        "sizing": "budget", "event_time": at,
        "trace": trace("ingest", "score", "aggregate", "signal", "execute")})


def fill(coid: str = "st-1", side: str = "buy", price: float = 1.25, qty: int = 2,
         at: int = T0) -> dict[str, Any]:
    return _avro("Fill", {
        "client_order_id": coid, "underlying": "SPY", "symbol": "SPY261124C00590000", "side": side,
        "qty": qty, "price": price, "commission": 1.3, "event_time": at, "trace": trace("execute")})


def position(qty: int = 2, avg: float = 1.25, realized: float = -1.3, mark: float = 1.25,
             symbol: str = "SPY261124C00590000", at: int = T0, *, stale: bool = False,
             stranded: bool = False) -> dict[str, Any]:
    return _avro("Position", {
        "underlying": "SPY", "symbol": symbol, "qty": qty, "avg_price": avg,
        "realized_pnl": realized, "mark": mark, "stale": stale, "stranded": stranded,
        "event_time": at, "trace": trace("book")})


def quote(symbol: str = "SPY261124C00590000", bid: float = 1.5, ask: float = 1.6,
          at: int = T0) -> dict[str, Any]:
    return _avro("Quote", {
        "symbol": symbol, "underlying": "SPY", "bid": bid, "ask": ask, "bid_size": 10,
        "ask_size": 10, "option_type": "call", "strike": 590.0, "expiry": "2026-11-24", "iv": 0.2,
        "delta": 0.4, "open_interest": None, "volume": None, "event_time": at,
        "trace": {"market_out": now_us()}})


def control(command: str, actor: str = "alice@127.0.0.1 via web", at: int = T0,
            **params: str) -> dict[str, Any]:
    return _avro("Control", {"command": command, "actor": actor, "params": params,
                             "event_time": at, "trace": {"web_out": now_us()}})


def switches(applied: str, by: str = "alice@127.0.0.1 via web", at: int = T0, *,
             paused: bool = False, killed: bool = False, owner: str = "owner worker-1",
             error: str | None = None, **limits: float) -> dict[str, Any]:
    """What the account's owner publishes on ``switches`` after applying (or refusing, with
    ``error``) the command ``applied`` sent by ``by`` at ``at``: its whole state, made by the
    worker's own :func:`domain.control.state_params`."""
    params = {**state_params(ControlState(paused, killed, limits)),
              "applied": applied, "by": by, "accepted": "false" if error else "true"}
    if error:
        params["error"] = error
    return _avro("Control", {"command": "state", "actor": owner, "params": params,
                             "event_time": at, "trace": {"control_out": now_us()}})


def metric(name: str, value: float, **labels: str) -> dict[str, Any]:
    return _avro("Metric", {"name": name, "value": value, "labels": labels, "event_time": now_us(),
                            "trace": {}})


def dead(stage: str = "control", reason: str = "unknown limit 'bogus'") -> dict[str, Any]:
    return _avro("DeadLetter", {"topic": "control", "partition": 0, "offset": 3, "stage": stage,
                                "reason": reason, "payload": b"x", "key": None, "event_time": T0,
                                "trace": {}})


def alert(rule: str = "source_down", subject: str = "x", state: str = "firing",
          severity: str = "warning", first_seen: int = T0, at: int = T0,
          actor: str | None = None) -> dict[str, Any]:
    return _avro("Alert", {"id": f"{rule}:{subject}", "rule": rule, "subject": subject,
                           "severity": severity, "state": state,
                           "message": f"{rule} {subject}", "value": 0.0, "threshold": None,
                           "first_seen": first_seen,
                           "resolved": at if state == "resolved" else None, "actor": actor,
                           "event_time": at, "trace": {}})
