"""Order life cycle: the broker's updates become ``orders`` and ``fills`` records.

A task reads :meth:`Broker.updates` (Alpaca's trade-updates stream with polling after a
drop; the simulated broker's own queue) and publishes, per event, the order's new state on
``orders`` and, for a (partial) fill, a ``Fill``. Tables are kept by agents reading those
topics (Faust tables change only inside a stream): ``ledger`` keeps the orders table, and
the book agent (:mod:`agents.book`) positions and P&L. Before the execute agent trades,
:func:`reconcile` states the broker's open orders and positions to the tables.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from domain.orders import FILL, PARTIAL_FILL, OrderUpdate, parse_occ
from domain.positions import RECONCILE_PREFIX
from streams.trace import now_us

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)
ACCOUNT_REFRESH_S = 30.0
RECONCILE_RETRY_MAX_S = 30.0  # start-up reconciliation retries back off to this
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
    """Publish the broker's open orders and positions so the tables agree with them.

    Open orders are published again (the orders table learns their state). For every
    contract the broker holds, and every one the book holds that the broker does not, a
    ``Fill`` marked ``reconcile:`` states the broker's quantity (0 when none) at its average
    price; the book agent moves the position to it (:func:`domain.positions.apply_fill_record`).
    Stating the quantity rather than a difference keeps this right even when the book read
    here was not yet recovered: the book agent applies it after recovery, to the whole book.
    """
    counts = {"open_orders": 0, "positions": 0, "mismatched": 0}
    for update in await p.broker.open_orders():
        counts["open_orders"] += 1
        await publish_update(p, update)
    held = {h.symbol: h for h in await p.broker.positions()}
    booked = {s: pos for s, pos in p.tables.positions.items() if pos and pos.get("qty")}
    at = now_us()
    for symbol in sorted(set(held) | set(booked)):
        broker_qty = held[symbol].qty if symbol in held else 0
        counts["positions"] += symbol in held
        if broker_qty != int(booked.get(symbol, {}).get("qty", 0)):
            counts["mismatched"] += 1
            log.warning("reconcile: broker holds %s x%d, the book (as read now) %s",
                        symbol, broker_qty, booked.get(symbol, {}).get("qty", 0))
        occ = parse_occ(symbol)
        await p.send(p.topics.fills, "Fill", occ.underlying, {
            "client_order_id": f"{RECONCILE_PREFIX}{symbol}:{at}", "underlying": occ.underlying,
            "symbol": symbol, "side": "buy", "qty": broker_qty,
            "price": held[symbol].avg_entry_price if symbol in held else 0.0, "commission": 0.0,
            "event_time": at, "trace": {"reconcile": at}})
    return counts


async def reconcile_at_start(p: Pipeline, first_delay_s: float = 1.0) -> dict[str, int]:
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
        p.reconciled.set()
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
        from agents.control import restore

        await p.tables_ready()
        restore(p)
        await reconcile_at_start(p)
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
