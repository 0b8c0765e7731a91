"""Simulated fills from quotes: spread crossed, slippage, commission, order latency.

A *derived* touch (imported history: a bar's or trade's price with a modelled spread, see
``Quote.derived``) is not a price the market showed, so an order never fills against the
one it was decided on (:func:`may_fill`), and every order on it, limit orders too, pays the
slippage on top of the modelled spread (:func:`simulate_fill`).
"""

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
    derived: bool = False  # bid/ask from a spread model around a bar or trade, not quoted


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
    derived: bool = False,
) -> SimFill | None:
    """Fill ``qty`` against a quote, or return ``None`` if a limit order would not fill.

    Market orders cross the spread and pay ``slippage``; a limit order fills at the touch
    when the touch is at or better than its limit (never worse than the limit). On a
    ``derived`` quote every order pays ``slippage``: the touch a limit order is checked
    against, and fills at, is the modelled ask plus slippage (bid less slippage).
    """
    paid = slippage if order_type == "market" or derived else 0.0
    if side == "buy":
        touch = ask + paid
        if order_type == "limit" and (limit_price is None or touch > limit_price + 1e-9):
            return None
    else:
        touch = max(bid - paid, 0.0)
        if order_type == "limit" and (limit_price is None or touch < limit_price - 1e-9):
            return None
    return SimFill(qty=qty, price=round(touch, 2), commission=round(commission_per_contract * qty, 2))


def may_fill(quote_at_us: int, since_us: int, latency_us: int, derived: bool) -> bool:
    """Whether a quote stamped ``quote_at_us`` may fill an order sent at ``since_us``.

    The order reaches the market ``latency_us`` after it was sent; a derived quote must also
    come after the order (the bar the order was decided on is never its fill: its price is
    the past by the time the order is out, and a bar is one price for a whole minute).
    """
    return quote_at_us >= since_us + latency_us and (not derived or quote_at_us > since_us)
