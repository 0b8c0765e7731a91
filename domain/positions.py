"""Position book-keeping: average price and realised P&L from fills."""

from __future__ import annotations

from collections.abc import Mapping
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


RECONCILE_PREFIX = "reconcile:"
"""``client_order_id`` of a fill that states the broker's quantity rather than a trade."""


def apply_fill_record(position: dict[str, Any] | None, fill: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a ``Fill`` record: a trade, or a reconciliation.

    A reconciliation (``client_order_id`` starting ``reconcile:``) carries the broker's
    whole quantity of the contract in ``qty`` (0: none) at its average price: the position
    is moved to that quantity (no commission; a reduction realises nothing). Applying it to
    a position that already agrees changes nothing, so a reconciliation that raced the
    table's recovery cannot double a position.
    """
    if not str(fill["client_order_id"]).startswith(RECONCILE_PREFIX):
        return apply_fill(position, fill["side"], fill["qty"], fill["price"], fill["commission"])
    held = int((position or {}).get("qty", 0))
    diff = int(fill["qty"]) - held
    if diff > 0:
        return apply_fill(position, "buy", diff, float(fill["price"]), 0.0)
    if diff < 0:
        avg = float((position or {}).get("avg_price", 0.0))
        return apply_fill(position, "sell", -diff, avg, 0.0)
    return {"qty": 0, "avg_price": 0.0, "realized_pnl": 0.0, **(position or {})}


def unrealized(position: dict[str, Any], mark: float) -> float:
    """Mark-to-market P&L of the open quantity at ``mark``."""
    return (mark - position["avg_price"]) * position["qty"] * MULTIPLIER
