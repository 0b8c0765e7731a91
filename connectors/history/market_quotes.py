"""Alpaca's historical bars and trades (their JSON) as derived ``Quote`` records. Pure.

One quote per bar, at the bar's end (its ``t`` is the minute's start; the close is only
known a minute later, so a backtest never sees a price before the market made it), priced
around the close; one quote per trade, at the trade's time, around its price. The bid and
the ask come from :class:`~domain.spread_model.SpreadModel` (a bar's high-low range may
widen them; a trade has none), and every such quote is ``derived``.

An option quote also gets the IV implied from its mid and the delta from that IV
(Black-Scholes, :mod:`domain.pricing`), with the underlying's last price at or before the
quote (:class:`SpotLine`) and the time to the session's close, so that contract choice by
delta works on an imported day as on a live one. Sizes are the bar's volume (the trade's
size), at least 1: what traded in that minute, the only size history gives.

A bar or trade whose fields are missing or not finite non-negative numbers is returned as
a :class:`~connectors.base.Malformed` (for ``deadletter``), never as a quote.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stocktracker.connectors.base import Malformed
from stocktracker.domain.contracts import implied_vol
from stocktracker.domain.orders import parse_occ
from stocktracker.domain.price_steps import PriceSteps
from stocktracker.domain.pricing import bs_delta, year_fraction_us
from stocktracker.domain.spread_model import SpreadModel

BAR_US = 60_000_000
"""A minute bar's length: its quote is stamped this long after its ``t``."""

Json = dict[str, Any]


def parse_time_us(text: str) -> int:
    """RFC 3339 as Alpaca writes it (``Z`` or an offset; fractions to the µs) to µs since
    the epoch."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@dataclass(frozen=True, slots=True)
class Tick:
    """A price the market made: a bar's close (at its end) or a trade."""

    ts_us: int
    price: float
    size: int
    bar_range: float
    raw: Json


class SpotLine:
    """The underlying's price at any moment: its last tick at or before it.

    Before the first tick, the first tick's price (the session's first known price).
    """

    def __init__(self, ticks: Iterable[Tick]) -> None:
        ordered = sorted(ticks, key=lambda t: t.ts_us)
        if not ordered:
            raise ValueError("no underlying price: an option quote needs the spot")
        self._times = [t.ts_us for t in ordered]
        self._prices = [t.price for t in ordered]

    def at(self, ts_us: int) -> float:
        """The last price at or before ``ts_us``."""
        return self._prices[max(bisect.bisect_right(self._times, ts_us) - 1, 0)]


def _number(raw: Json, key: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{key!r} must be a finite number >= 0, not {value!r}")
    return float(value)


def ticks(symbol: str, bars: Iterable[Json], trades: Iterable[Json]
          ) -> tuple[list[Tick], list[Malformed]]:
    """The ticks of one symbol's bars and trades, in time order, and what could not be read."""
    good: list[Tick] = []
    bad: list[Malformed] = []
    for kind, items in (("bar", bars), ("trade", trades)):
        for raw in items:
            try:
                ts = parse_time_us(str(raw["t"]))
                if kind == "bar":
                    high, low = _number(raw, "h"), _number(raw, "l")
                    good.append(Tick(ts + BAR_US, _number(raw, "c"),
                                     max(int(_number(raw, "v")), 1), max(high - low, 0.0), raw))
                else:
                    good.append(Tick(ts, _number(raw, "p"), max(int(_number(raw, "s")), 1), 0.0,
                                     raw))
            except (KeyError, ValueError, TypeError, OverflowError) as exc:
                bad.append(Malformed(f"alpaca:{symbol}", json.dumps(raw, default=str).encode(),
                                     f"{kind} of {symbol}: {exc}", _stamp(raw)))
    good.sort(key=lambda t: t.ts_us)
    return good, bad


def _stamp(raw: Json) -> int:
    try:
        return parse_time_us(str(raw["t"]))
    except (KeyError, ValueError):
        return 0


def underlying_quotes(underlying: str, line: Iterable[Tick], model: SpreadModel) -> list[Json]:
    """A derived ``Quote`` record of the underlying for every tick."""
    out = []
    for tick in line:
        bid, ask = model.underlying_quote(tick.price, tick.bar_range)
        out.append({"symbol": underlying, "underlying": underlying, "bid": bid, "ask": ask,
                    "bid_size": tick.size, "ask_size": tick.size, "option_type": None,
                    "strike": None, "expiry": None, "iv": None, "delta": None,
                    "open_interest": None, "volume": None, "penny": None, "derived": True,
                    "event_time": tick.ts_us, "trace": {}})
    return out


def option_quotes(symbol: str, line: Iterable[Tick], spot: SpotLine, close_us: int,
                  model: SpreadModel, penny: bool | None, rate: float = 0.04) -> list[Json]:
    """A derived ``Quote`` record of option ``symbol`` for every tick, with IV and delta
    (see the module doc); ``close_us`` is its expiry session's close."""
    occ = parse_occ(symbol)
    steps = PriceSteps(occ.underlying, penny)
    out = []
    for tick in line:
        bid, ask = model.option_quote(tick.price, steps, tick.bar_range)
        s = spot.at(tick.ts_us)
        t_years = year_fraction_us(tick.ts_us, close_us)
        iv = implied_vol((bid + ask) / 2, s, occ.strike, t_years, rate, occ.option_type)
        delta = bs_delta(s, occ.strike, t_years, iv, rate, occ.option_type)
        out.append({"symbol": symbol, "underlying": occ.underlying, "bid": bid, "ask": ask,
                    "bid_size": tick.size, "ask_size": tick.size,
                    "option_type": occ.option_type, "strike": occ.strike, "expiry": occ.expiry,
                    "iv": round(iv, 6), "delta": round(delta, 6), "open_interest": None,
                    "volume": None, "penny": penny, "derived": True, "event_time": tick.ts_us,
                    "trace": {}})
    return out
