"""Book agent: fills become positions, P&L and the day's risk state.

Reads ``fills``; a ``reconcile:`` fill states the broker's quantity rather than a trade
(:mod:`agents.orders`, :func:`domain.positions.apply_fill_record`). Keeps the positions
table (per contract: underlying, qty, average price, realised P&L, high-water mark of the
mark for the trailing stop, entry order) and the day's realised P&L per underlying in the
risk-state table, and publishes ``positions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from domain.positions import apply_fill_record
from streams.trace import stamped

if TYPE_CHECKING:
    from streams.pipeline import Pipeline


class OpenPositions:
    """Which contracts of each underlying have an open position, so the exits agent does
    not scan the whole positions table (closed contracts stay in it) on every quote.

    The table (changelogged) is the truth; this index is rebuilt from it on first use after
    a start and then kept by the book agent.
    """

    def __init__(self, positions_table: Any) -> None:
        self._table = positions_table
        self._open: dict[str, set[str]] | None = None

    def _index(self) -> dict[str, set[str]]:
        if self._open is None:
            self._open = {}
            for symbol, position in self._table.items():
                if position and position.get("qty", 0) > 0 and position.get("underlying"):
                    self._open.setdefault(position["underlying"], set()).add(symbol)
        return self._open

    def of(self, underlying: str) -> list[str]:
        """The open contracts of ``underlying`` (sorted: the same order every time)."""
        return sorted(self._index().get(underlying, ()))

    def update(self, underlying: str, symbol: str, qty: int) -> None:
        """Record a position's new quantity."""
        held = self._index().setdefault(underlying, set())
        if qty > 0:
            held.add(symbol)
        else:
            held.discard(symbol)


def register(p: Pipeline) -> None:
    """Register the book agent; the open-position index is shared with the exits agent."""
    tables = p.tables
    p.open_positions = OpenPositions(tables.positions)

    async def handle(fill: dict[str, Any], received: int) -> None:
        symbol, underlying = fill["symbol"], fill["underlying"]
        before = tables.positions.get(symbol) or {}
        position = apply_fill_record(before, fill)
        position.update(underlying=underlying,
                        entry_order=before.get("entry_order") or fill["client_order_id"],
                        opened_us=before.get("opened_us") or fill["event_time"],
                        high_mark=max(float(before.get("high_mark", 0.0)), fill["price"])
                        if fill["side"] == "buy" else before.get("high_mark", 0.0))
        if position["qty"] == 0:
            position.update(entry_order="", opened_us=0, high_mark=0.0)
        tables.positions[symbol] = position
        p.open_positions.update(underlying, symbol, int(position["qty"]))
        risk = tables.risk_state[underlying]
        realized_delta = position["realized_pnl"] - float(before.get("realized_pnl", 0.0))
        day = p.calendar.session_at(fill["event_time"])
        day_key = day.day.isoformat() if day is not None else ""
        day_pnl = float(risk.get("day_pnl", 0.0)) if risk.get("day") == day_key else 0.0
        tables.risk_state[underlying] = {**risk, "day": day_key, "day_pnl": day_pnl + realized_delta}
        quote = tables.quotes.get(symbol)
        mark = (quote["bid"] + quote["ask"]) / 2 if quote else fill["price"]
        await p.send(p.topics.positions, "Position", underlying, {
            "underlying": underlying, "symbol": symbol, "qty": position["qty"],
            "avg_price": position["avg_price"], "realized_pnl": position["realized_pnl"],
            "mark": mark, "event_time": fill["event_time"],
            "trace": stamped(fill["trace"], "book", received)})

    stage_agent(p, p.topics.fills, "book", "Fill", handle)
