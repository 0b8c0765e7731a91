"""Book agent: fills become positions, P&L and the day's risk state.

Reads ``fills``; each execution is applied once (:func:`domain.book.apply`: by execution
id and by the order's cumulative quantity), so a redelivered, replayed or re-sent fill
changes nothing. A ``reconcile:`` fill states the broker's quantity rather than a trade
(:mod:`agents.orders`). Keeps the positions table (per contract: underlying, qty, average
price, realised P&L, commission, the session day's realised P&L, high-water mark of the
mark for the trailing stop, entry order, the executions applied), one write per fill, and
publishes ``positions`` (:func:`publish_position`; the exits agent publishes through it too
when it flags a position ``stale`` or ``stranded``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import stage_agent
from stocktracker.domain.book import Fill, Position, apply
from stocktracker.streams.core.trace import stamped

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)


class OpenPositions:
    """Which contracts of each underlying have an open position, so the exits agent does
    not scan the whole positions table (closed contracts stay in it) on every quote.

    The table (changelogged) is the truth; this index is rebuilt from it on first use after
    a start or a new term (:meth:`reset`) and then kept by the book agent.
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

    def all(self) -> list[str]:
        """Every open contract (sorted)."""
        return sorted(s for held in self._index().values() for s in held)

    def reset(self) -> None:
        """Forget: the table may have moved on without this process (another owner's term)."""
        self._open = None

    def update(self, underlying: str, symbol: str, qty: int) -> None:
        """Record a position's new quantity."""
        held = self._index().setdefault(underlying, set())
        if qty > 0:
            held.add(symbol)
        else:
            held.discard(symbol)


def position_record(position: Position, mark: float, event_time: int,
                    trace: Mapping[str, int]) -> dict[str, Any]:
    """The ``Position`` record of ``positions``: the book's state of the contract, its mark
    and its flags, so the dashboard shows what the exits agent knows."""
    return {"underlying": position.underlying, "symbol": position.symbol, "qty": position.qty,
            "avg_price": position.avg_price, "realized_pnl": position.realized_pnl,
            "mark": mark, "stale": position.stale, "stranded": position.stranded,
            "event_time": event_time, "trace": dict(trace)}


async def publish_position(p: AgentHost, position: Position, event_time: int,
                           trace: Mapping[str, int], fallback_mark: float) -> None:
    """Publish ``position`` on ``positions``, marked at its contract's cached quote mid
    (``fallback_mark`` when there is no quote)."""
    quote = p.tables.quotes.get(position.symbol)
    mark = (quote["bid"] + quote["ask"]) / 2 if quote else fallback_mark
    await p.send(p.topics.positions, "Position", position.underlying,
                 position_record(position, mark, event_time, trace))


def register(p: AgentHost) -> None:
    """Register the book agent; the open-position index is shared with the exits agent."""
    tables = p.tables
    p.open_positions = OpenPositions(tables.positions)

    async def handle(record: dict[str, Any], received: int) -> None:
        fill = Fill.from_record(record)
        before = Position.from_record(fill.symbol, tables.positions.get(fill.symbol))
        session = p.calendar.session_at(fill.event_time)
        day = session.day.isoformat() if session is not None else ""
        applied = apply(before, fill, day or before.day)
        position = applied.position
        if applied.duplicate:  # the position is stated again (a crash may have lost it)
            log.info("fill %s of %s (%s x%d) applied before; not again", fill.key,
                     fill.client_order_id, fill.symbol, fill.qty)
        else:
            tables.positions[fill.symbol] = position.to_record()  # one write: the whole effect
            p.open_positions.update(position.underlying, fill.symbol, position.qty)
        await publish_position(p, position, fill.event_time,
                               stamped(dict(fill.trace), "book", received), fill.price)

    stage_agent(p, p.topics.fills, "book", "Fill", handle)
