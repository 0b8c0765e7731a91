"""Order life cycle: the broker's updates become ``orders`` and ``fills`` records.

The owner's task (:mod:`agents.owner`) reads :meth:`Broker.updates` (Alpaca's
trade-updates stream with polling after a drop; the simulated broker's own queue) and
publishes, per event, the order's new state on ``orders`` and, for a (partial) fill, a
``Fill`` with the broker's execution id. Tables are kept by agents reading those
topics (Faust tables change only inside a stream): ``ledger`` keeps the orders table, and
the book agent (:mod:`agents.book`) positions and P&L. Before the execute agent trades,
:func:`reconcile` states the broker's open orders and positions to the tables.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import send_metric, stage_agent
from stocktracker.domain.book import Fill, Position, seen
from stocktracker.domain.order_record import OrderRecord
from stocktracker.domain.orders import (
    FILL,
    PARTIAL_FILL,
    Execution,
    MalformedUpdate,
    OrderRequest,
    OrderUpdate,
    parse_occ,
)
from stocktracker.domain.positions import RECONCILE_PREFIX
from stocktracker.streams.core.trace import now_us

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)
RECONCILE_RETRY_MAX_S = 30.0  # start-up reconciliation retries back off to this


OPEN = frozenset({"pending", "new", "partial_fill"})
"""Statuses of an order the broker may still fill."""


class OpenEntries:
    """Which entry orders the broker may still fill, so the exits agent's timer (every
    ``TRADING_TICK_S``) does not scan the whole orders table (every order of the session
    stays in it) to find the ones to time out.

    The table (changelogged) is the truth; this index is built from it on first use after
    a start or a new term (:meth:`reset`), then kept by :func:`store_order`.
    """

    def __init__(self, orders_table: Any) -> None:
        self._table = orders_table
        self._open: set[str] | None = None

    def _index(self) -> set[str]:
        if self._open is None:
            self._open = {coid for coid, record in self._table.items() if is_open_entry(record)}
        return self._open

    def all(self) -> list[str]:
        """The open entry orders' client ids (sorted: the same order every time)."""
        return sorted(self._index())

    def update(self, client_order_id: str, record: dict[str, Any] | None) -> None:
        """Record an order's new state."""
        if is_open_entry(record):
            self._index().add(client_order_id)
        else:
            self._index().discard(client_order_id)

    def reset(self) -> None:
        """Forget: the table may have moved on without this process (another owner's term)."""
        self._open = None


def is_open_entry(record: dict[str, Any] | None) -> bool:
    """True for an opening order the broker may still fill."""
    return record is not None and record.get("intent") == "open" \
        and record.get("status") in OPEN


def store_order(p: AgentHost, order: OrderRecord) -> None:
    """Write an order's state to the orders table (and the open-entries index)."""
    record = order.table_record()
    p.tables.orders[order.client_order_id] = record
    p.open_entries.update(order.client_order_id, record)


async def submit(p: AgentHost, request: OrderRequest, order: OrderRecord) -> None:
    """Send an order. A submit that raises (the broker unreachable after its retries)
    publishes the ``Order`` with status ``error`` and the reason, and clears its pending
    state: never a pending order without a record. (Should the broker have taken it after
    all, its updates still arrive, and the deterministic id keeps it single.)"""
    p.order_meta[request.client_order_id] = order
    try:
        await p.broker.submit(request)
    except Exception as exc:
        p.order_meta.pop(request.client_order_id, None)
        failed = order.failed(f"submit failed: {type(exc).__name__}: {exc}"[:500])
        log.error("order %s: %s", request.client_order_id, failed.reason)
        store_order(p, failed)
        await p.send(p.topics.orders, "Order", failed.underlying, failed.to_record())


def known_order(p: AgentHost, update: OrderUpdate) -> OrderRecord:
    """The order an update is about: as this process sent it, as the orders table has it,
    or made from the update (an order sent before a restart, or by hand)."""
    sent = p.order_meta.get(update.client_order_id)
    if sent is not None:
        return sent
    stored = p.tables.orders.get(update.client_order_id)
    return OrderRecord.from_record(stored) if stored else OrderRecord.unknown(update)


async def publish_update(p: AgentHost, update: OrderUpdate) -> None:
    """Publish one broker update as an ``Order`` (and a ``Fill`` when it filled something).

    The fill carries the broker's execution id and the order's cumulative quantity, so the
    book applies it once however often it arrives (:mod:`domain.book`).
    """
    order = known_order(p, update).moved(update, p.broker.name, now_us())
    await p.send(p.topics.orders, "Order", order.underlying, order.to_record())
    if update.event in (FILL, PARTIAL_FILL) and update.last_fill_qty > 0:
        fill = Fill(update.client_order_id, order.underlying, update.symbol, update.side,
                    update.last_fill_qty, update.last_fill_price, update.last_fill_commission,
                    update.execution_id, update.filled_qty, order.event_time, order.trace)
        await p.send(p.topics.fills, "Fill", fill.underlying, fill.to_record())
    if update.done:
        p.order_meta.pop(update.client_order_id, None)


async def dead_letter_update(p: AgentHost, bad: MalformedUpdate) -> None:
    """A broker message that could not be read goes to ``deadletter`` (the adapter polls
    open orders at once, so a fill it hid is still reported)."""
    at = now_us()
    log.error("unreadable update from %s dead-lettered: %s", p.broker.name, bad.reason)
    await p.send(p.topics.deadletter, "DeadLetter", "broker", {
        "topic": f"broker:{p.broker.name}", "partition": -1, "offset": -1,
        "stage": "orders", "reason": bad.reason[:2000], "payload": bad.raw, "key": None,
        "event_time": await p.broker.clock_us(), "trace": {"orders_in": at}})


async def reconcile(p: AgentHost, *, state_all: bool = True) -> dict[str, int]:
    """Make the book agree with the broker: its money as well as its quantities.

    1. Open orders are published again (the orders table learns their state).
    2. Every execution of the broker's session so far that the book has not applied is
       published as a ``Fill`` with its execution id; the book applies it once (by id, and
       by the order's cumulative quantity), so realised P&L and commission come out as the
       broker's.
    3. For every contract the broker holds, and every one the book holds that the broker
       does not, a ``reconcile:`` fill states the broker's quantity (0 when none); the book
       moves the position to it (realising nothing). It is skipped for a contract with an
       execution after the positions were read (they would disagree; the next run states
       it). With ``state_all`` False (the periodic run) only contracts whose quantity
       differs from the book as read now are stated.

    Every record carries the broker's clock (session event time), never this machine's.
    """
    counts = {"open_orders": 0, "executions": 0, "positions": 0, "mismatched": 0}
    for update in await p.broker.open_orders():
        counts["open_orders"] += 1
        await publish_update(p, update)
    at = await broker_clock(p)
    held = {h.symbol: h for h in await p.broker.positions()}
    executions = await p.broker.executions(p.calendar.latest_session(at).open_us)
    moved_after = {e.symbol for e in executions if e.at_us >= at}
    for execution in executions:
        fill = execution_fill(execution, p.tables.orders.get(execution.client_order_id))
        if seen(Position.from_record(fill.symbol, p.tables.positions.get(fill.symbol)), fill):
            continue  # the book has it (were the table not yet recovered, it drops the repeat)
        counts["executions"] += 1
        await p.send(p.topics.fills, "Fill", fill.underlying, fill.to_record())
    booked = {s: pos for s, pos in p.tables.positions.items() if pos and pos.get("qty")}
    for symbol in sorted((set(held) | set(booked)) - moved_after):
        broker_qty = held[symbol].qty if symbol in held else 0
        counts["positions"] += symbol in held
        mismatch = broker_qty != int(booked.get(symbol, {}).get("qty", 0))
        if mismatch:
            counts["mismatched"] += 1
            log.warning("reconcile: broker holds %s x%d, the book (as read now) %s",
                        symbol, broker_qty, booked.get(symbol, {}).get("qty", 0))
        if not (state_all or mismatch):
            continue
        occ = parse_occ(symbol)
        statement = f"{RECONCILE_PREFIX}{symbol}:{at}:{now_us()}"  # once each, even at one clock
        await p.send(p.topics.fills, "Fill", occ.underlying, Fill(
            statement, occ.underlying, symbol, "buy", broker_qty,
            held[symbol].avg_entry_price if symbol in held else 0.0, 0.0, statement, 0, at,
            {"reconcile": now_us()}).to_record())
    return counts


async def publish_reconciled(p: AgentHost, counts: dict[str, int]) -> None:
    """A reconciliation's mismatches as the ``reconcile_mismatched`` metric (the alert fires
    on a count over 0 and resolves on the next reconciliation's 0)."""
    await send_metric(p, "reconcile_mismatched", "reconcile_mismatched", counts["mismatched"],
                      {"stage": "owner", "worker": p.worker_id}, now_us())


async def broker_clock(p: AgentHost) -> int:
    """The broker's clock; a simulated broker that has seen no record yet has none, and
    then the book's last fill stands in for it (this machine's clock as a last resort)."""
    at = await p.broker.clock_us()
    if at > 0:
        return at
    last = [int(pos.get("last_us") or pos.get("opened_us") or 0)
            for pos in p.tables.positions.values() if pos]
    return max(last, default=0) or now_us()


def execution_fill(execution: Execution, order: dict[str, Any] | None) -> Fill:
    """The ``Fill`` of one execution the broker lists."""
    occ = parse_occ(execution.symbol)
    coid = execution.client_order_id or (order or {}).get("client_order_id") \
        or f"broker:{execution.broker_order_id}"
    return Fill(coid, occ.underlying, execution.symbol, execution.side, execution.qty,
                execution.price, execution.commission, execution.execution_id,
                execution.cum_qty, execution.at_us, {"reconcile": now_us()})


async def reconcile_at_start(p: AgentHost, first_delay_s: float = 1.0) -> dict[str, int]:
    """Reconcile until it succeeds, then let orders go out (``p.reconciled``).

    Until then the execute agent holds every signal: no order goes out before the book
    agrees with the broker. A broker that cannot be reached is asked again with a growing
    pause (up to :data:`RECONCILE_RETRY_MAX_S`), so trading starts once it answers rather
    than never.
    """
    delay = first_delay_s
    while True:
        try:
            p.account = await p.broker.account()
            counts = await reconcile(p)
        except Exception:
            log.exception("reconciliation with %s failed; trading stays off, retrying in "
                          "%.0f s", p.broker.name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONCILE_RETRY_MAX_S)
            continue
        log.info("reconciled with %s: %s", p.broker.name, counts)
        if counts["mismatched"]:
            await publish_reconciled(p, counts)
        p.reconciled.set()
        return counts


def register(p: AgentHost) -> None:
    """The ledger agent (the broker's stream and reconciliation: :mod:`agents.owner`); the
    open-entries index is shared with the execute and exits agents."""
    p.open_entries = OpenEntries(p.tables.orders)

    async def ledger(record: dict[str, Any], received: int) -> None:
        store_order(p, OrderRecord.from_record(record))

    stage_agent(p, p.topics.orders, "ledger", "Order", ledger)
