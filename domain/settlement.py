"""Expiry at the close: options expiring today settle at their intrinsic value. Pure.

A backtest ends each session by settling every open contract that expires that day, at
``max(0, S - K)`` for a call and ``max(0, K - S)`` for a put, ``S`` being the underlying's
last price at the close. The settlements are fills (the ``fills`` topic's fields) at the
close, with no commission, so the book, the equity curve and the trade list treat them like
any other closing fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from stocktracker.domain.orders import parse_occ

SETTLEMENT_PREFIX = "expiry-"
"""Start of a settlement fill's ``client_order_id``."""
EXPIRY_REASON = "expiry"
"""The exit reason of a trade closed by settlement."""


def intrinsic(option_type: str, strike: float, spot: float) -> float:
    """Intrinsic value per share of a ``"call"`` or ``"put"`` at ``spot``."""
    if option_type == "call":
        return max(0.0, spot - strike)
    if option_type == "put":
        return max(0.0, strike - spot)
    raise ValueError(f"option_type must be 'call' or 'put', not {option_type!r}")


def is_settlement(client_order_id: str) -> bool:
    """True for the ``client_order_id`` of a settlement fill."""
    return client_order_id.startswith(SETTLEMENT_PREFIX)


def settlement_id(symbol: str, day: date) -> str:
    """Deterministic ``client_order_id`` of the settlement of ``symbol`` on ``day``."""
    return f"{SETTLEMENT_PREFIX}{day:%Y%m%d}-{symbol}"


def settle_expiring(positions: Mapping[str, Mapping[str, Any]], last_prices: Mapping[str, float],
                    day: date, close_us: int) -> list[dict[str, Any]]:
    """Settlement fills for the open contracts that expire on ``day``.

    Parameters
    ----------
    positions:
        OCC symbol -> position as the book keeps it (only ``qty`` is read); a long position
        settles by a sell, a short one by a buy, a flat one not at all.
    last_prices:
        Underlying -> its last price at the close.
    day:
        The session's date; contracts expiring on other days are left open.
    close_us:
        The session's close, µs since the epoch: the settlement fills' ``event_time``.

    Raises
    ------
    ValueError
        When an expiring contract's underlying has no last price, or its symbol is not OCC.
    """
    fills: list[dict[str, Any]] = []
    for symbol in sorted(positions):
        qty = int(positions[symbol].get("qty", 0))
        occ = parse_occ(symbol)
        if qty == 0 or occ.expiry != day.isoformat():
            continue
        if occ.underlying not in last_prices:
            raise ValueError(f"no closing price of {occ.underlying} to settle {symbol}")
        fills.append({
            "client_order_id": settlement_id(symbol, day), "underlying": occ.underlying,
            "symbol": symbol, "side": "sell" if qty > 0 else "buy", "qty": abs(qty),
            "price": round(intrinsic(occ.option_type, occ.strike, float(last_prices[occ.underlying])), 6),
            "commission": 0.0, "event_time": close_us, "trace": {},
        })
    return fills
