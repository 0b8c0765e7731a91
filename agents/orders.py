"""Order life cycle: the broker's updates become ``orders`` and ``fills`` records.

A task reads :meth:`Broker.updates` (Alpaca's trade-updates stream with polling after a
drop; the simulated broker's own queue) and publishes, per event, the order's new state on
``orders`` and, for a (partial) fill, a ``Fill``. Tables are kept by agents reading those
topics (Faust tables change only inside a stream): ``ledger`` keeps the orders table, and
the book agent (:mod:`agents.book`) positions and P&L. Before the execute agent trades,
:func:`reconcile` compares the broker's open orders and positions with the tables.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from domain.orders import FILL, PARTIAL_FILL, OrderUpdate, parse_occ
from streams.trace import now_us

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)
ACCOUNT_REFRESH_S = 30.0
STATUS = {"new": "new", "partial_fill": "partial_fill", "fill": "filled", "canceled": "canceled",
          "rejected": "rejected", "expired": "expired"}


def order_record(meta: dict[str, Any], update: OrderUpdate, at_us: int) -> dict[str, Any]:
    """The ``Order`` record of one update, on top of what the order was sent as."""
    trace = {**meta.get("trace", {}), f"broker_{update.event}": at_us}
    return {
        **meta,
        "status": STATUS.get(update.event, update.event),
        "reason": update.reason or meta.get("reason"),
        "filled_qty": update.filled_qty,
        "filled_avg_price": update.filled_avg_price,
        "broker_order_id": update.broker_order_id,
        "event_time": max(int(meta.get("event_time", 0)), update.at_us),
        "trace": trace,
    }


def meta_for(update: OrderUpdate) -> dict[str, Any]:
    """What an order unknown to this worker (sent before a restart, or by hand) looks like."""
    occ = parse_occ(update.symbol)
    return {"client_order_id": update.client_order_id, "signal_id": "", "underlying": occ.underlying,
            "symbol": update.symbol, "side": update.side, "option_type": occ.option_type,
            "strike": occ.strike, "expiry": occ.expiry, "qty": update.qty, "order_type": "limit",
            "limit_price": None, "status": "", "reason": None, "broker": "", "intent":
            "open" if update.side == "buy" else "close", "filled_qty": 0, "filled_avg_price": 0.0,
            "broker_order_id": update.broker_order_id, "sizing": "", "event_time": update.at_us,
            "trace": {}}


async def publish_update(p: Pipeline, update: OrderUpdate) -> None:
    """Publish one broker update as an ``Order`` (and a ``Fill`` when it filled something)."""
    meta = p.order_meta.get(update.client_order_id) or p.tables.orders.get(update.client_order_id)
    if not meta:
        meta = meta_for(update)
    meta = {**meta, "broker": p.broker.name}
    at = now_us()
    record = order_record(meta, update, at)
    await p.send(p.topics.orders, "Order", record["underlying"], record)
    if update.event in (FILL, PARTIAL_FILL) and update.last_fill_qty > 0:
        await p.send(p.topics.fills, "Fill", record["underlying"], {
            "client_order_id": update.client_order_id, "underlying": record["underlying"],
            "symbol": update.symbol, "side": update.side, "qty": update.last_fill_qty,
            "price": update.last_fill_price, "commission": update.last_fill_commission,
            "event_time": record["event_time"], "trace": record["trace"]})
    if update.done:
        p.order_meta.pop(update.client_order_id, None)


async def reconcile(p: Pipeline) -> dict[str, int]:
    """Compare the broker's open orders and positions with the tables; publish the truth.

    Open orders the broker has are published again (so the orders table learns their
    state); where the broker's position differs from the book's, the book is corrected to
    the broker's quantity by a ``Fill`` marked ``reconcile:`` at the broker's average price.
    """
    counts = {"open_orders": 0, "positions": 0, "mismatched": 0}
    for update in await p.broker.open_orders():
        counts["open_orders"] += 1
        await publish_update(p, update)
    for held in await p.broker.positions():
        counts["positions"] += 1
        mine = p.tables.positions.get(held.symbol) or {}
        diff = held.qty - int(mine.get("qty", 0))
        if diff == 0:
            continue
        counts["mismatched"] += 1
        log.warning("reconcile: broker holds %s x%d, the book %s; correcting the book",
                    held.symbol, held.qty, mine.get("qty", 0))
        occ = parse_occ(held.symbol)
        at = now_us()
        await p.send(p.topics.fills, "Fill", occ.underlying, {
            "client_order_id": f"reconcile:{held.symbol}:{at}", "underlying": occ.underlying,
            "symbol": held.symbol, "side": "buy" if diff > 0 else "sell", "qty": abs(diff),
            "price": held.avg_entry_price, "commission": 0.0, "event_time": at,
            "trace": {"reconcile": at}})
    return counts


def register(p: Pipeline) -> None:
    """The updates task, start-up reconciliation, and the ledger agent."""

    @p.app.timer(ACCOUNT_REFRESH_S)
    async def refresh_account() -> None:
        try:
            p.account = await p.broker.account()
        except Exception as exc:  # keep the last known figures; sizing uses them
            log.warning("account refresh from %s failed: %s", p.broker.name, exc)

    @p.app.task
    async def follow_broker() -> None:
        try:
            from agents.control import restore

            await p.tables_ready()
            restore(p)
            p.account = await p.broker.account()
            counts = await reconcile(p)
            log.info("reconciled with %s: %s", p.broker.name, counts)
        except Exception:
            log.exception("reconciliation with %s failed; trading stays off", p.broker.name)
            return
        p.reconciled.set()
        try:
            while True:
                try:
                    async for update in p.broker.updates():
                        await publish_update(p, update)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("order updates from %s failed; resuming", p.broker.name)
                    await asyncio.sleep(1.0)
        finally:  # the worker is stopping
            await p.broker.close()

    async def ledger(order: dict[str, Any], received: int) -> None:
        p.tables.orders[order["client_order_id"]] = {k: v for k, v in order.items() if k != "trace"}

    stage_agent(p, p.topics.orders, "ledger", "Order", ledger)
