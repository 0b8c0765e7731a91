"""Simulated fills from quotes: spread crossed, slippage, commission."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Touch:
    """The last quote of one contract: what a simulated order fills against."""

    bid: float
    ask: float
    bid_size: int
    ask_size: int
    at_us: int
    penny: bool | None = None  # its class is in the penny program (domain.price_steps)


@dataclass(frozen=True, slots=True)
class SimFill:
    """A simulated execution."""

    qty: int
    price: float
    commission: float


def simulate_fill(
    side: str,
    qty: int,
    order_type: str,
    limit_price: float | None,
    bid: float,
    ask: float,
    slippage: float = 0.0,
    commission_per_contract: float = 0.65,
) -> SimFill | None:
    """Fill ``qty`` against a quote, or return ``None`` if a limit order would not fill.

    Market orders cross the spread and pay ``slippage``; a limit order fills at the touch
    when the touch is at or better than its limit (never worse than the limit).
    """
    if side == "buy":
        touch = ask + (slippage if order_type == "market" else 0.0)
        if order_type == "limit" and (limit_price is None or ask > limit_price):
            return None
    else:
        touch = max(bid - (slippage if order_type == "market" else 0.0), 0.0)
        if order_type == "limit" and (limit_price is None or bid < limit_price):
            return None
    return SimFill(qty=qty, price=round(touch, 2), commission=round(commission_per_contract * qty, 2))
