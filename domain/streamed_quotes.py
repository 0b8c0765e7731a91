"""Streamed quotes: which contracts to stream, and a streamed quote as a ``Quote`` record.

Pure: no I/O, time comes with the quote. The REST refresh fills the quote table with the
whole chain every few seconds; the stream adds the quotes that cannot wait for it: the
contracts held (their exits and the stale-quote check) and those near the money (the next
entry), plus each underlying's own quotes.

A streamed option quote carries only the touch, so its record takes the contract's terms
(type, strike, expiry, IV, delta, open interest, penny flag) from the cached chain entry,
and from the OCC symbol when the contract is not cached yet. Its ``event_time`` is the
quote's own timestamp: the freshness the stale-quote checks read is the market's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stocktracker.domain.contracts import new_york_date
from stocktracker.domain.orders import parse_occ


class BadStreamedQuote(ValueError):
    """A streamed quote that cannot be a ``Quote`` record (the reason says why)."""


@dataclass(frozen=True, slots=True)
class StreamedQuote:
    """One quote from a market-data stream.

    Attributes
    ----------
    symbol:
        OCC option symbol, or the stock's ticker.
    option:
        From the option stream (else the stock stream).
    bid, ask:
        Top of book, $ (per share for options).
    bid_size, ask_size:
        Size at the touch (contracts, or round lots for stocks).
    at_us:
        The quote's own timestamp, µs since the epoch.
    """

    symbol: str
    option: bool
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    at_us: int


def quote_record(q: StreamedQuote, cached: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``Quote`` record of a streamed quote (``trace`` empty, the sender stamps it).

    ``cached`` is the contract's entry in the quote table (its terms are kept), or None.

    Raises
    ------
    BadStreamedQuote
        On a price or size that is not a finite number, a negative bid, no positive ask, a
        crossed touch, a stock quote without a bid, or an option symbol not in OCC form.
    """
    for name, value in (("bid", q.bid), ("ask", q.ask), ("bid_size", q.bid_size),
                        ("ask_size", q.ask_size)):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise BadStreamedQuote(f"{q.symbol}: {name} {value!r} is not a price")
    if q.ask <= 0 or q.ask < q.bid or (not q.option and q.bid <= 0):
        raise BadStreamedQuote(f"{q.symbol}: no two-sided quote ({q.bid} x {q.ask})")
    touch = {"symbol": q.symbol, "bid": float(q.bid), "ask": float(q.ask),
             "bid_size": int(q.bid_size), "ask_size": int(q.ask_size),
             "derived": False, "event_time": int(q.at_us), "trace": {}}
    if not q.option:
        return {"underlying": q.symbol, "option_type": None, "strike": None, "expiry": None,
                "iv": None, "delta": None, "open_interest": None, "volume": None,
                "penny": None, **touch}
    if cached and cached.get("option_type"):
        terms = {k: cached.get(k) for k in ("underlying", "option_type", "strike", "expiry", "iv",
                                            "delta", "open_interest", "volume", "penny")}
        return {**terms, **touch}
    try:
        occ = parse_occ(q.symbol)
    except ValueError as exc:
        raise BadStreamedQuote(str(exc)) from exc
    return {"underlying": occ.underlying, "option_type": occ.option_type, "strike": occ.strike,
            "expiry": occ.expiry, "iv": None, "delta": None, "open_interest": None,
            "volume": None, "penny": None, **touch}


def near_the_money(chain: Iterable[Mapping[str, Any]], spot: Mapping[str, Any] | None,
                   strikes: int) -> set[str]:
    """The calls and puts of the ``strikes`` listed strikes nearest the spot on each side
    (the nearest one counts as the first of both sides), in the first expiry on or after
    the spot quote's New York date. Empty without a spot quote or with ``strikes`` 0."""
    if spot is None or strikes <= 0 or spot.get("ask") is None:
        return set()
    mid = (float(spot["bid"]) + float(spot["ask"])) / 2
    today = new_york_date(int(spot["event_time"])).isoformat()
    listed = [c for c in chain if c.get("option_type") and str(c.get("expiry")) >= today]
    if not listed:
        return set()
    expiry = min(str(c["expiry"]) for c in listed)
    listed = [c for c in listed if c["expiry"] == expiry]
    below = sorted({float(c["strike"]) for c in listed if float(c["strike"]) <= mid}, reverse=True)
    above = sorted({float(c["strike"]) for c in listed if float(c["strike"]) > mid})
    wanted = set(below[:strikes]) | set(above[:strikes])
    return {str(c["symbol"]) for c in listed if float(c["strike"]) in wanted}


def streamed_contracts(held: Iterable[str], chains: Mapping[str, Iterable[Mapping[str, Any]]],
                       spots: Mapping[str, Mapping[str, Any] | None], strikes: int) -> set[str]:
    """Every contract to stream: those ``held``, and each underlying's near the money
    (``chains`` and ``spots`` by underlying; see :func:`near_the_money`)."""
    wanted = set(held)
    for underlying, chain in chains.items():
        wanted |= near_the_money(chain, spots.get(underlying), strikes)
    return wanted
