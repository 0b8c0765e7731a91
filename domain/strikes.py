"""Choosing the 0DTE contract for a signal from the cached option chain (the older API).

:mod:`domain.contracts` holds the contract choice (delta or offset, expiry fallback,
liquidity filters and the reason when nothing qualifies); :func:`choose_contract` is its
offset mode on one given expiry, as the first callers use it.
"""

from __future__ import annotations

from datetime import date

from stocktracker.domain.contracts import ChainQuote, ContractRule, choose

__all__ = ["ChainQuote", "choose_contract"]


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
    rule = ContractRule(strike_mode="offset", strike_offset=strike_offset,
                        max_spread_pct=max_spread_pct, allow_later_expiry=False)
    side = "bullish" if direction == "bullish" else "bearish"
    return choose(chain, spot, side, date.fromisoformat(expiry), 0, rule).contract
