"""Choosing the 0DTE contract for a signal from the cached option chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChainQuote:
    """One contract of the chain cache."""

    symbol: str
    option_type: str
    strike: float
    expiry: str
    bid: float
    ask: float
    quote_us: int

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ChainQuote:
        """Build from a chain-cache entry (a Quote record's fields)."""
        return cls(raw["symbol"], raw["option_type"], float(raw["strike"]), raw["expiry"],
                   float(raw["bid"]), float(raw["ask"]), int(raw["event_time"]))

    @property
    def mid(self) -> float:
        """Mid price."""
        return (self.bid + self.ask) / 2


def choose_contract(
    chain: list[ChainQuote],
    spot: float,
    direction: str,
    expiry: str,
    strike_offset: int = 0,
    max_spread_pct: float = 0.25,
) -> ChainQuote | None:
    """Pick a call (bullish) or put (bearish) expiring on ``expiry``.

    ``strike_offset`` 0 is the strike nearest the spot (ATM); +n moves n strikes out of the
    money, -n into it. Contracts without a bid, or with a spread wider than
    ``max_spread_pct`` of the mid, are skipped as illiquid.
    """
    option_type = "call" if direction == "bullish" else "put"
    liquid = sorted(
        (
            q for q in chain
            if q.option_type == option_type and q.expiry == expiry and q.bid > 0
            and q.ask >= q.bid and (q.ask - q.bid) <= max_spread_pct * q.mid
        ),
        key=lambda q: q.strike,
    )
    if not liquid:
        return None
    atm = min(range(len(liquid)), key=lambda i: abs(liquid[i].strike - spot))
    step = strike_offset if option_type == "call" else -strike_offset
    index = min(max(atm + step, 0), len(liquid) - 1)
    return liquid[index]
