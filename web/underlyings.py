"""The dashboard's per-underlying summary: sentiment, signals and positions of each ticker
side by side, so several traded underlyings can be told apart at a glance. Pure.

A ticker appears once it has a sentiment point, a signal or a position. The premium is
the open positions' cost basis (``qty × avg_price × 100``), as the risk checks count it;
the account-wide limits apply to the sum of the rows.
"""

from __future__ import annotations

from typing import Any

from stocktracker.web.view import DashboardView


def by_underlying(view: DashboardView) -> list[dict[str, Any]]:
    """One row per ticker, sorted by ticker: the latest sentiment (``decayed``, ``mean``,
    ``posts``; None before the first window), ``signals`` kept, ``open_contracts``,
    ``open_premium`` and ``realized``/``unrealized`` P&L of its contracts."""
    rows: dict[str, dict[str, Any]] = {}

    def row(ticker: str) -> dict[str, Any]:
        return rows.setdefault(ticker, {
            "ticker": ticker, "decayed": None, "mean": None, "posts": None, "signals": 0,
            "open_contracts": 0, "open_premium": 0.0, "realized": 0.0, "unrealized": 0.0})

    for ticker, points in view.sentiment.items():
        if points:
            last = points[-1]
            row(ticker).update(decayed=last["decayed"], mean=last["mean"], posts=last["posts"])
    for signal in view.signals.values():
        row(signal["ticker"])["signals"] += 1
    for symbol in view.positions:
        position = view.position(symbol)
        r = row(position["underlying"])
        r["open_contracts"] += position["qty"]
        r["open_premium"] += position["qty"] * position["avg_price"] * 100
        r["realized"] += position["realized_pnl"]
        r["unrealized"] += position["unrealized_pnl"]
    for r in rows.values():
        for key in ("open_premium", "realized", "unrealized"):
            r[key] = round(r[key], 2)
    return [rows[t] for t in sorted(rows)]
