"""What a backtest is measured against, and its days one by one. Pure: no I/O, no clock.

- :func:`buy_and_hold`: the start cash in whole shares of the underlying at the range's
  first ask, sold at its last bid (the spread paid once each way, no commission: Alpaca
  charges none on stocks), marked at the bid in between for its drawdown.
- :func:`never_trading`: the cash kept, 0 %.
- :func:`day_rows`: per New York day, the strategy's trades, P&L, return and drawdown
  beside what the underlying did that day (the day's first ask to its last bid).

Quotes are ``(ts_us, bid, ask)`` of the underlying, in time order; the equity curve is
:func:`domain.performance.equity_curve`'s ``(ts_us, equity)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from stocktracker.domain.performance import Trade, drawdowns

_NY = ZoneInfo("America/New_York")
UnderlyingQuote = tuple[int, float, float]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One benchmark over the backtest's range (``None`` where it is undefined)."""

    name: str
    start_equity: float
    end_equity: float | None
    total_return: float | None
    max_drawdown: float | None
    shares: int = 0
    entry_price: float | None = None
    exit_price: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The benchmark as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DayRow:
    """One day of the backtest: the strategy's figures beside the underlying's day return."""

    day: date
    trades: int
    pnl: float
    return_: float | None
    underlying_return: float | None
    max_drawdown: float
    fees: float
    end_equity: float

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict (``return`` for ``return_``, the day in ISO)."""
        row = asdict(self)
        row["return"] = row.pop("return_")
        row["day"] = self.day.isoformat()
        return row


def _usable(quotes: Iterable[UnderlyingQuote]) -> list[UnderlyingQuote]:
    """Quotes with a finite, positive bid and ask (a crossed or empty one tells no price)."""
    return [q for q in quotes if all(math.isfinite(x) and x > 0 for x in q[1:]) and q[2] >= q[1]]


def buy_and_hold(quotes: Sequence[UnderlyingQuote], start_cash: float) -> Benchmark:
    """The underlying bought with ``start_cash`` at the first ask, sold at the last bid."""
    usable = _usable(quotes)
    if not usable or usable[0][2] > start_cash:
        return Benchmark("buy_and_hold", start_cash, None, None, None)
    entry = usable[0][2]
    shares = math.floor(start_cash / entry)
    left = start_cash - shares * entry
    path = [start_cash] + [left + shares * bid for _, bid, _ in usable]
    end = path[-1]
    return Benchmark("buy_and_hold", start_cash, round(end, 6), end / start_cash - 1,
                     min(drawdowns(path)), shares, entry, usable[-1][1])


def never_trading(start_cash: float) -> Benchmark:
    """The cash kept: 0 %, no drawdown."""
    return Benchmark("never_trading", start_cash, start_cash, 0.0, 0.0)


def _day(ts_us: int) -> date:
    return datetime.fromtimestamp(ts_us / 1e6, tz=_NY).date()


def day_rows(start_cash: float, curve: Sequence[tuple[int, float]], trades: Iterable[Trade],
             quotes: Sequence[UnderlyingQuote]) -> list[DayRow]:
    """One row per New York day with underlying quotes or equity points, oldest first.

    A day's P&L and return run from the equity at the end of the day before (the start
    cash on the first) to its last point; its trades and fees are those closed that day;
    its drawdown is the worst fall from that day's running peak.
    """
    points: dict[date, list[float]] = {}
    for ts, equity in curve:
        points.setdefault(_day(ts), []).append(equity)
    prices: dict[date, list[UnderlyingQuote]] = {}
    for q in _usable(quotes):
        prices.setdefault(_day(q[0]), []).append(q)
    closed: dict[date, list[Trade]] = {}
    for t in trades:
        closed.setdefault(_day(t.exit_us), []).append(t)
    rows, equity = [], float(start_cash)
    for day in sorted(set(points) | set(prices)):
        path = [equity, *points.get(day, [])]
        day_quotes = prices.get(day, [])
        moved = day_quotes[-1][1] / day_quotes[0][2] - 1 if day_quotes else None
        done = closed.get(day, [])
        rows.append(DayRow(day, len(done), round(path[-1] - equity, 6),
                           path[-1] / equity - 1 if equity > 0 else None, moved,
                           min(drawdowns(path)), round(math.fsum(t.fees for t in done), 6),
                           path[-1]))
        equity = path[-1]
    return rows
