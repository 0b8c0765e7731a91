"""Backtest performance: round-trip trades from fills, the equity curve, and the report's metrics.

Pure: no I/O, no clock; times are µs since the epoch, prices $ per share (× 100 per contract).

Conventions (those of empyrical, so the numbers can be checked against it):

- Returns are simple returns per bar of the equity curve, ``equity[i] / equity[i-1] - 1``.
- Sharpe is ``mean(r) / std(r, ddof=1) * sqrt(periods_per_year)`` (risk-free rate 0); Sortino
  is ``mean(r) * sqrt(periods_per_year) / sqrt(mean(min(r, 0)**2))`` (target 0). The default
  ``periods_per_year`` is :data:`DAILY` (252) for one point per session; minute bars take
  :data:`MINUTE_BARS` (252 × 390).
- Max drawdown is the most negative ``equity / running peak - 1`` (0 for a curve that never
  falls, -0.25 for a 25 % fall).
- A metric that is undefined (Sharpe of a flat curve, profit factor without a losing trade,
  win rate without trades) is ``None``, never NaN or infinity, so the report is valid JSON.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from stocktracker.domain.book import distinct_fills
from stocktracker.domain.orders import parse_occ
from stocktracker.domain.positions import MULTIPLIER
from stocktracker.domain.settlement import EXPIRY_REASON, is_settlement

DAILY = 252.0
"""Sessions per year: ``periods_per_year`` for one equity point per session."""
MINUTE_BARS = 252.0 * 390
"""Regular-session minutes per year: ``periods_per_year`` for minute bars."""
MINUTE_US = 60_000_000
_NY = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed round trip: an entry order's contracts closed by one exit order (or expiry).

    ``entry_price`` and ``exit_price`` are quantity-weighted averages over partial fills;
    ``fees`` are the commissions of both legs for these contracts; ``pnl`` is net of fees, $.
    """

    symbol: str
    underlying: str
    option_type: str
    qty: int
    entry_us: int
    exit_us: int
    entry_price: float
    exit_price: float
    fees: float
    pnl: float
    signal_id: str = ""
    entry_reason: str = ""
    exit_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The trade as a plain dict (the report's trade list)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Report:
    """The headline metrics of a backtest (see the module docstring for the conventions).

    ``trades`` is the number of closed round trips; ``exposure`` the fraction of the span
    during which at least one position was open; ``fees`` the commissions of those trades.
    """

    start_equity: float | None
    end_equity: float | None
    total_return: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    win_rate: float | None
    avg_win: float | None
    avg_loss: float | None
    profit_factor: float | None
    trades: int
    exposure: float | None
    fees: float
    periods_per_year: float
    bars: int

    def to_dict(self) -> dict[str, Any]:
        """The metrics as a JSON-ready dict (``None`` for undefined ones)."""
        return asdict(self)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def returns(values: Sequence[float]) -> list[float]:
    """Simple returns between consecutive equity values (all must be positive)."""
    if any(v <= 0 for v in values):
        raise ValueError("equity must stay positive to have returns")
    return [b / a - 1 for a, b in itertools.pairwise(values)]


def sharpe(rets: Sequence[float], periods_per_year: float = DAILY) -> float | None:
    """Annualised Sharpe ratio (risk-free 0); ``None`` for fewer than 2 returns or no dispersion."""
    if len(rets) < 2 or max(rets) == min(rets):
        return None
    mean = _mean(rets)
    std = math.sqrt(math.fsum((r - mean) ** 2 for r in rets) / (len(rets) - 1))
    return _finite(mean / std * math.sqrt(periods_per_year))


def sortino(rets: Sequence[float], periods_per_year: float = DAILY) -> float | None:
    """Annualised Sortino ratio (target 0); ``None`` for fewer than 2 returns or no losing bar."""
    if len(rets) < 2:
        return None
    downside = math.sqrt(math.fsum(min(r, 0.0) ** 2 for r in rets) / len(rets))
    if downside == 0:
        return None
    return _finite(_mean(rets) * math.sqrt(periods_per_year) / downside)


def drawdowns(values: Sequence[float]) -> list[float]:
    """``value / running peak - 1`` at each point (0 at a new high, negative below it)."""
    out, peak = [], -math.inf
    for v in values:
        peak = max(peak, v)
        out.append(v / peak - 1 if peak > 0 else 0.0)
    return out


def exposure(trades: Iterable[Trade], start_us: int, end_us: int) -> float | None:
    """Fraction of ``[start_us, end_us]`` covered by the union of the trades' holding times."""
    if end_us <= start_us:
        return None
    covered, reach = 0, start_us
    for t in sorted(trades, key=lambda t: t.entry_us):
        lo, hi = max(t.entry_us, reach), min(t.exit_us, end_us)
        if hi > lo:
            covered += hi - lo
            reach = hi
    return covered / (end_us - start_us)


def build_report(curve: Sequence[tuple[int, float]], trades: Sequence[Trade], *,
                 periods_per_year: float = DAILY, span_us: tuple[int, int] | None = None) -> Report:
    """The metrics of an equity curve (``(ts_us, equity)``, time-ordered) and its closed trades.

    ``span_us`` is the time that exposure is measured against (default: the curve's first to
    last point).
    """
    values = [v for _, v in curve]
    rets = returns(values)
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [t.pnl for t in trades if t.pnl < 0]
    start, end = span_us or ((curve[0][0], curve[-1][0]) if curve else (0, 0))
    return Report(
        start_equity=values[0] if values else None,
        end_equity=values[-1] if values else None,
        total_return=values[-1] / values[0] - 1 if values else None,
        sharpe=sharpe(rets, periods_per_year),
        sortino=sortino(rets, periods_per_year),
        max_drawdown=min(drawdowns(values)) if values else None,
        win_rate=len(wins) / len(trades) if trades else None,
        avg_win=_mean(wins) if wins else None,
        avg_loss=_mean(losses) if losses else None,
        profit_factor=math.fsum(wins) / -math.fsum(losses) if losses else None,
        trades=len(trades),
        exposure=exposure(trades, start, end),
        fees=round(math.fsum(t.fees for t in trades), 6),
        periods_per_year=periods_per_year,
        bars=len(rets),
    )


def daily_closes(curve: Sequence[tuple[int, float]], tz: ZoneInfo = _NY) -> list[tuple[date, float]]:
    """The last equity of each local day (New York by default), in day order."""
    closes: dict[date, float] = {}
    for ts, v in curve:
        closes[datetime.fromtimestamp(ts / 1e6, tz=tz).date()] = v
    return sorted(closes.items())


@dataclass(slots=True)
class _Lot:
    order_id: str
    qty: int
    price: float
    at_us: int
    fee_each: float


def _reason(orders: Mapping[str, Mapping[str, Any]], order_id: str, key: str) -> str:
    return str((orders.get(order_id) or {}).get(key) or "")


def trades_from_fills(fills: Iterable[Mapping[str, Any]],
                      orders: Mapping[str, Mapping[str, Any]] | None = None) -> list[Trade]:
    """Pair fills into closed round trips, FIFO per contract.

    Buys open lots, sells close the oldest lots first; a sell beyond the open quantity is
    ignored (long options only). Partial fills of one entry order closed by one exit order
    make one trade at the average prices; entries by two orders make two trades. ``orders``
    (client_order_id -> order record) gives the entry's ``signal_id`` and ``reason`` and the
    exit's ``reason``; expiry settlements are named ``expiry`` when no order record says.
    Trades come out in the order they closed. Each execution counts once
    (:func:`domain.book.distinct_fills`), however often the topic carries it.
    """
    orders = orders or {}
    books: dict[str, deque[_Lot]] = {}
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for fill in sorted(distinct_fills(fills), key=lambda f: f["event_time"]):
        symbol, side, qty = fill["symbol"], fill["side"], int(fill["qty"])
        fee_each = float(fill.get("commission", 0.0)) / qty if qty else 0.0
        book = books.setdefault(symbol, deque())
        if side == "buy":
            book.append(_Lot(fill["client_order_id"], qty, float(fill["price"]), fill["event_time"],
                             fee_each))
            continue
        if side != "sell":
            raise ValueError(f"side must be buy or sell, not {side!r}")
        while qty and book:
            lot = book[0]
            q = min(qty, lot.qty)
            key = (symbol, lot.order_id, fill["client_order_id"])
            leg = merged.setdefault(key, {"underlying": fill["underlying"], "qty": 0, "cost": 0.0,
                                          "proceeds": 0.0, "fees": 0.0, "entry_us": lot.at_us})
            leg["qty"] += q
            leg["cost"] += lot.price * q
            leg["proceeds"] += float(fill["price"]) * q
            leg["fees"] += (lot.fee_each + fee_each) * q
            leg["exit_us"] = fill["event_time"]
            qty -= q
            lot.qty -= q
            if not lot.qty:
                book.popleft()
    return [_trade(key, leg, orders) for key, leg in merged.items()]


def _trade(key: tuple[str, str, str], leg: Mapping[str, Any],
           orders: Mapping[str, Mapping[str, Any]]) -> Trade:
    symbol, entry_id, exit_id = key
    try:
        option_type = parse_occ(symbol).option_type
    except ValueError:
        option_type = ""
    exit_reason = _reason(orders, exit_id, "reason") or (EXPIRY_REASON if is_settlement(exit_id) else "")
    fees = round(leg["fees"], 6)
    return Trade(
        symbol=symbol, underlying=leg["underlying"], option_type=option_type, qty=leg["qty"],
        entry_us=leg["entry_us"], exit_us=leg["exit_us"],
        entry_price=leg["cost"] / leg["qty"], exit_price=leg["proceeds"] / leg["qty"], fees=fees,
        pnl=round((leg["proceeds"] - leg["cost"]) * MULTIPLIER - fees, 6),
        signal_id=_reason(orders, entry_id, "signal_id"),
        entry_reason=_reason(orders, entry_id, "reason"), exit_reason=exit_reason,
    )


def equity_curve(start_cash: float, fills: Iterable[Mapping[str, Any]],
                 marks: Iterable[tuple[int, str, float]], *, step_us: int = MINUTE_US,
                 sessions: Sequence[tuple[int, int]] | None = None) -> list[tuple[int, float]]:
    """Cash plus open contracts at their latest mark, sampled every ``step_us``.

    ``marks`` are ``(ts_us, symbol, mid)`` quote events; a contract not yet quoted is marked
    at its last fill price. A sample at ``t`` includes every fill and mark at or before
    ``t``. Samples run on the ``step_us`` grid from the first event to the last, plus one
    at the last event; with ``sessions`` (``(open_us, close_us)`` pairs), only the grid
    points inside a session and each session's close are sampled (no flat nights).
    """
    events: list[tuple[int, int, Mapping[str, Any]]] = [(f["event_time"], 0, f)
                                                        for f in distinct_fills(fills)]
    events += [(ts, 1, {"symbol": s, "mid": m}) for ts, s, m in marks]
    events.sort(key=lambda e: (e[0], e[1]))  # a fill before a mark at the same time
    if not events:
        return []
    times = _sample_times(events[0][0], events[-1][0], step_us, sessions)
    cash, held, mark = float(start_cash), dict[str, int](), dict[str, float]()
    out, i = [], 0
    for t in times:
        while i < len(events) and events[i][0] <= t:
            _, kind, body = events[i]
            if kind == 0:
                cash += _apply(body, held, mark)
            else:
                mark[body["symbol"]] = float(body["mid"])
            i += 1
        open_value = math.fsum(q * mark[s] * MULTIPLIER for s, q in held.items() if q)
        out.append((t, round(cash + open_value, 6)))
    return out


def _apply(fill: Mapping[str, Any], held: dict[str, int], mark: dict[str, float]) -> float:
    """Update holdings for a fill and return its cash flow."""
    symbol, qty, price = fill["symbol"], int(fill["qty"]), float(fill["price"])
    sign = 1 if fill["side"] == "buy" else -1
    held[symbol] = held.get(symbol, 0) + sign * qty
    mark.setdefault(symbol, price)
    return -sign * price * qty * MULTIPLIER - float(fill.get("commission", 0.0))


def _sample_times(first: int, last: int, step_us: int,
                  sessions: Sequence[tuple[int, int]] | None) -> list[int]:
    windows = sessions if sessions is not None else [(first - first % step_us, last)]
    times: list[int] = []
    for lo, hi in windows:
        times.extend(range(lo, hi + 1, step_us))
        if not times or times[-1] != hi:
            times.append(hi)
    return sorted(set(times))
