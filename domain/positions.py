"""Position book-keeping: average price and realised P&L from fills."""

from __future__ import annotations

from typing import Any

MULTIPLIER = 100


def apply_fill(position: dict[str, Any] | None, side: str, qty: int, price: float,
               commission: float) -> dict[str, Any]:
    """Return the position after a fill (long options only: buys open, sells close)."""
    pos: dict[str, Any] = {"qty": 0, "avg_price": 0.0, "realized_pnl": 0.0}
    pos.update(position or {})
    if side == "buy":
        total = pos["qty"] + qty
        pos["avg_price"] = (pos["avg_price"] * pos["qty"] + price * qty) / total
        pos["qty"] = total
    else:
        closed = min(qty, pos["qty"])
        pos["realized_pnl"] += (price - pos["avg_price"]) * closed * MULTIPLIER
        pos["qty"] -= closed
        if pos["qty"] == 0:
            pos["avg_price"] = 0.0
    pos["realized_pnl"] -= commission
    return pos


def unrealized(position: dict[str, Any], mark: float) -> float:
    """Mark-to-market P&L of the open quantity at ``mark``."""
    return (mark - position["avg_price"]) * position["qty"] * MULTIPLIER
