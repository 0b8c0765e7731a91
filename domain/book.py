"""The book: every fill applied to its position exactly once. Pure.

Kafka delivers at least once and brokers repeat themselves. A worker killed after a fill
is sent every fill since its last offset commit again; Alpaca re-sends ``fill`` updates
with identical execution ids; reconciliation lists every execution of the session. So a
fill changes a position only when it is news:

- its id (:attr:`Fill.key`: the broker's execution id; a reconciliation or a settlement
  makes its own) is not among the ids the position has applied;
- for a fill that knows its order's cumulative quantity (``order_filled_qty``), only what
  goes beyond what the position has applied of that order counts. The same execution seen
  by two paths with different ids (the stream, then a poll that saw only the order's
  totals) is applied once.

Everything one fill changes (quantity, average price, realised P&L, commission, the day's
realised P&L, the ids seen) lives in its contract's position, so that one table write
carries all of it and a crash cannot leave half of a fill applied.

A reconciliation *statement* (``client_order_id`` starting ``reconcile:``) carries the
broker's whole quantity of the contract: the position is moved to it, realising nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from stocktracker.domain.positions import RECONCILE_PREFIX, apply_fill, apply_fill_record

MAX_IDS = 512
"""Execution ids (and orders) a position remembers. A 0DTE contract lives one session, so
this bounds the memory by the session; 512 fills of one contract in a day is far beyond
what the risk limits allow."""


class FillError(ValueError):
    """A fill record that cannot be applied (bad side, a negative or non-finite number)."""


def _finite(name: str, value: object, *, minimum: float = 0.0) -> float:
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number) or number < minimum:
        raise FillError(f"fill {name} must be a finite number >= {minimum:g}, not {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution as the ``fills`` topic carries it (parsed once, at the edge)."""

    client_order_id: str
    underlying: str
    symbol: str
    side: str
    qty: int
    price: float
    commission: float = 0.0
    execution_id: str = ""
    order_filled_qty: int = 0
    event_time: int = 0
    trace: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise FillError(f"fill side must be buy or sell, not {self.side!r}")
        if self.qty < 0 or self.order_filled_qty < 0:
            raise FillError("fill quantities must be >= 0")
        _finite("price", self.price)
        _finite("commission", self.commission)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Fill:
        """From a decoded ``Fill`` record (v1 records have no execution id: the key then
        falls back on the order and its quantities)."""
        return cls(str(record["client_order_id"]), str(record["underlying"]),
                   str(record["symbol"]), str(record["side"]), int(record["qty"]),
                   float(record["price"]), float(record.get("commission") or 0.0),
                   str(record.get("execution_id") or ""),
                   int(record.get("order_filled_qty") or 0), int(record["event_time"]),
                   dict(record.get("trace") or {}))

    def to_record(self) -> dict[str, Any]:
        """The ``Fill`` record."""
        return {**asdict(self), "trace": dict(self.trace)}

    @property
    def is_statement(self) -> bool:
        """True for a reconciliation's statement of the broker's quantity."""
        return self.client_order_id.startswith(RECONCILE_PREFIX)

    @property
    def key(self) -> str:
        """The id the book remembers this fill by."""
        if self.execution_id:
            return self.execution_id
        if self.order_filled_qty:
            return f"{self.client_order_id}#{self.order_filled_qty}"
        return f"{self.client_order_id}@{self.event_time}:{self.side}{self.qty}"


@dataclass(frozen=True, slots=True)
class Position:
    """One contract's position as the ``positions`` table keeps it.

    ``day``/``day_realized``: the session day (ISO) of the last fill and the realised P&L
    (after commission) of that day. ``executions``/``orders``: what has been applied (see
    the module docstring). ``exit_*``: the exit order the exits agent has working.
    ``stale``: its contract's quote is older than the bound; ``stranded``: its exit was
    refused too often (both cleared when the position closes).
    """

    symbol: str
    underlying: str = ""
    qty: int = 0
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    commission: float = 0.0
    day: str = ""
    day_realized: float = 0.0
    entry_order: str = ""
    opened_us: int = 0
    high_mark: float = 0.0
    last_us: int = 0
    executions: tuple[str, ...] = ()
    orders: Mapping[str, int] = field(default_factory=dict)
    exit_order: str = ""
    exit_reason: str = ""
    exit_attempt: int = 0
    exit_entry: str = ""
    exit_sent_us: int = 0
    stale: bool = False
    stranded: bool = False

    @classmethod
    def from_record(cls, symbol: str, record: Mapping[str, Any] | None) -> Position:
        """From the table's value (None or ``{}``: flat, never traded)."""
        r = dict(record or {})
        return cls(
            symbol, str(r.get("underlying") or ""), int(r.get("qty") or 0),
            float(r.get("avg_price") or 0.0), float(r.get("realized_pnl") or 0.0),
            float(r.get("commission") or 0.0), str(r.get("day") or ""),
            float(r.get("day_realized") or 0.0), str(r.get("entry_order") or ""),
            int(r.get("opened_us") or 0), float(r.get("high_mark") or 0.0),
            int(r.get("last_us") or 0), tuple(r.get("executions") or ()),
            {str(k): int(v) for k, v in dict(r.get("orders") or {}).items()},
            str(r.get("exit_order") or ""), str(r.get("exit_reason") or ""),
            int(r.get("exit_attempt") or 0), str(r.get("exit_entry") or ""),
            int(r.get("exit_sent_us") or 0), bool(r.get("stale")), bool(r.get("stranded")))

    def to_record(self) -> dict[str, Any]:
        """The table's value (JSON-friendly)."""
        record = asdict(self)
        record["executions"] = list(self.executions)
        record["orders"] = dict(self.orders)
        del record["symbol"]
        return record

    def day_pnl(self, day: str) -> float:
        """Realised P&L of ``day`` (ISO date) on this contract."""
        return self.day_realized if self.day == day else 0.0


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one fill did."""

    position: Position
    qty: int
    """Contracts of this fill applied (0: nothing; less than its ``qty`` when part of it was
    seen through another path; for a statement, the absolute change)."""
    realized: float
    """Realised P&L this fill added (after commission)."""
    duplicate: bool
    """True when the fill had been applied before (nothing changed)."""


def apply(position: Position, fill: Fill, day: str) -> Applied:
    """Apply ``fill`` to ``position`` (of the same contract) on session ``day`` (ISO).

    Returns the new position, or the same one with ``duplicate`` when the fill is not news.
    """
    if fill.key in position.executions:
        return Applied(position, 0, 0.0, True)
    qty, commission = fill.qty, fill.commission
    seen = position.orders.get(fill.client_order_id, 0)
    if fill.order_filled_qty and not fill.is_statement:
        qty = min(fill.qty, fill.order_filled_qty - seen)
        if qty <= 0:
            return Applied(position, 0, 0.0, True)
        commission = fill.commission * qty / fill.qty
    before = {"qty": position.qty, "avg_price": position.avg_price,
              "realized_pnl": position.realized_pnl}
    after = apply_fill_record(before, fill.to_record()) if fill.is_statement else \
        apply_fill(before, fill.side, qty, fill.price, commission)
    realized = float(after["realized_pnl"]) - position.realized_pnl
    moved = abs(int(after["qty"]) - position.qty) if fill.is_statement else qty
    new = _opened(position, fill, int(after["qty"]), float(after["avg_price"]))
    new = replace(new, realized_pnl=float(after["realized_pnl"]),
                  commission=position.commission + (0.0 if fill.is_statement else commission),
                  day=day, day_realized=position.day_pnl(day) + realized,
                  underlying=fill.underlying or position.underlying,
                  last_us=max(position.last_us, fill.event_time))
    return Applied(_remember(new, fill, seen), moved, realized, False)


def _opened(position: Position, fill: Fill, qty: int, avg_price: float) -> Position:
    """Quantity and price, and the entry the position belongs to (reset when flat)."""
    if qty == 0:
        return replace(position, qty=0, avg_price=0.0, entry_order="", opened_us=0,
                       high_mark=0.0, stale=False, stranded=False)
    buying = fill.side == "buy" and qty > position.qty
    return replace(
        position, qty=qty, avg_price=avg_price,
        entry_order=position.entry_order or fill.client_order_id,
        opened_us=position.opened_us or fill.event_time,
        high_mark=max(position.high_mark, fill.price) if buying else position.high_mark)


def _remember(position: Position, fill: Fill, seen: int) -> Position:
    executions = (*position.executions, fill.key)[-MAX_IDS:]
    orders = dict(position.orders)
    if fill.order_filled_qty and not fill.is_statement:
        orders.pop(fill.client_order_id, None)  # re-inserted last: the oldest go first
        orders[fill.client_order_id] = max(seen, fill.order_filled_qty)
        orders = dict(list(orders.items())[-MAX_IDS:])
    return replace(position, executions=executions, orders=orders)


def seen(position: Position, fill: Fill) -> bool:
    """True when ``position`` has applied all of ``fill`` already."""
    if fill.key in position.executions:
        return True
    return bool(fill.order_filled_qty) and not fill.is_statement \
        and position.orders.get(fill.client_order_id, 0) >= fill.order_filled_qty


def distinct_fills(fills: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The trades a book applies, in the order given, each once: a repeat is dropped, a fill
    partly seen through another path is cut to the part not seen (its commission too).
    Reconciliation statements are left out: they state quantities, they are not trades.
    Reports and monitors read fills through this, as the book does."""
    books: dict[str, Position] = {}
    out = []
    for record in fills:
        fill = Fill.from_record(record)
        if fill.is_statement:
            continue
        applied = apply(books.get(fill.symbol) or Position(fill.symbol), fill, "")
        books[fill.symbol] = applied.position
        if not applied.duplicate:
            share = applied.qty / fill.qty if fill.qty else 0.0
            out.append({**record, "qty": applied.qty,
                        "commission": round(fill.commission * share, 6)})
    return out


def day_pnl(positions: Mapping[str, Mapping[str, Any]] | Any, day: str) -> float:
    """The account's realised P&L of ``day`` over every position record (the owner's whole
    book: the trading tables live on one partition)."""
    return sum(float(r.get("day_realized") or 0.0) for r in positions.values()
               if r and r.get("day") == day)
