"""The account's owner: the one worker that talks to the broker.

Trading state lives in tables on the one partition of the trading topics
(:data:`streams.core.topics.ACCOUNT_TOPICS`), so Kafka's group assignment gives it to exactly
one worker at a time; the agents reading those topics run there only. What is not driven
by a record (the broker's update stream, polling, reconciliation, the account refresh, the
clock ticks) must run there only too: this task watches the assignment and runs one
*term* while this worker owns the account:

1. a fresh broker client (the simulated broker reloads its account from Kafka, which the
   previous owner may have changed);
2. the tables recovered (a standby's replicas are hot, so this is quick), and the indexes
   over them rebuilt (another owner may have changed them meanwhile);
3. the operator's switches restored from the control table;
4. reconciliation (executions, then quantities) until it succeeds: only then may orders go;
5. the broker's updates published (after a drop of the broker's stream, the gap is
   reconciled at once). Timers on the owner (once reconciled): the account
   refreshed, a reconciliation every ``TRADING_RECONCILE_S``, and a ``Tick`` every
   ``TRADING_TICK_S`` so exits fire at their deadline without quotes.

When the assignment moves away (a rebalance, or this worker is stopping) the term ends:
orders stop, the broker client is closed. A worker killed outright stops with it; its
standby takes over after the consumer session timeout (``STREAM_SESSION_TIMEOUT_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stocktracker.agents.execute import publish_account
from stocktracker.agents.orders import (
    dead_letter_update,
    publish_reconciled,
    publish_update,
    reconcile,
    reconcile_at_start,
)
from stocktracker.domain.orders import MalformedUpdate, StreamResumed
from stocktracker.streams.core.trace import now_us

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)
WATCH_S = 0.2
ACCOUNT_REFRESH_S = 30.0


class Ownership:
    """Whether this worker owns the account now: it holds partition 0 of ``signals`` (the
    trading topics are co-partitioned, so it holds all of them) as an active partition."""

    def __init__(self, app: Any, topic: str) -> None:
        self._app, self._topic = app, topic

    def owns(self) -> bool:
        """True while the account's partition is assigned here as active."""
        from faust.types import TP

        assignor = getattr(self._app, "assignor", None)
        if assignor is None:
            return False
        return TP(self._topic, 0) in assignor.assigned_actives()


async def follow_ownership(p: AgentHost) -> None:
    """Run a term each time this worker comes to own the account (until cancelled)."""
    while True:
        while not p.ownership.owns():
            await asyncio.sleep(WATCH_S)
        log.warning("this worker owns the trading account now")
        term = asyncio.create_task(run_term(p), name="trading-term")
        try:
            while p.ownership.owns() and not term.done():
                await asyncio.sleep(WATCH_S)
        finally:
            p.reconciled.clear()  # no order goes out between terms
            term.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await term
        if term.done() and not term.cancelled() and term.exception() is not None:
            log.error("trading term failed: %r", term.exception())
        log.warning("this worker no longer owns the trading account")


async def run_term(p: AgentHost) -> None:
    """One term as the owner (see the module docstring)."""
    from stocktracker.agents.control import restore

    await p.renew_broker()
    try:
        await p.tables_ready()
        forget_indexes(p)
        await restore(p)
        await reconcile_at_start(p)
        with contextlib.suppress(Exception):  # the timer sends the next one anyway
            await send_tick(p)  # the exits check at once what the last owner left
        await pump_updates(p)
    finally:
        await p.broker.close()


def forget_indexes(p: AgentHost) -> None:
    """The in-memory indexes over the trading tables are rebuilt from the tables: while
    another worker owned the account, they changed through the changelog only."""
    for index in (p.open_positions, p.open_entries, p.chain_index):
        if index is not None:
            index.reset()


async def pump_updates(p: AgentHost) -> None:
    """Publish the broker's updates (a message it could not read: dead-lettered; the stream
    back from a drop: the gap reconciled)."""
    while True:
        try:
            async for update in p.broker.updates():
                if isinstance(update, MalformedUpdate):
                    await dead_letter_update(p, update)
                elif isinstance(update, StreamResumed):
                    await reconcile_gap(p, update)
                else:
                    await publish_update(p, update)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("order updates from %s failed; resuming", p.broker.name)
        await asyncio.sleep(1.0)


async def reconcile_gap(p: AgentHost, resumed: StreamResumed) -> None:
    """The broker's stream was down ``resumed.down_s``: apply the executions the book
    missed meanwhile (a failure is left to the periodic reconciliation)."""
    try:
        counts = await reconcile(p, state_all=False)
    except Exception as exc:
        log.warning("reconciling a %.1f s stream gap with %s failed: %s", resumed.down_s,
                    p.broker.name, exc)
        return
    log.info("stream of %s back after %.1f s; reconciled: %s", p.broker.name, resumed.down_s,
             counts)
    if counts["mismatched"]:
        await publish_reconciled(p, counts)


def owner_timer(p: AgentHost, interval_s: float, fn: Callable[[AgentHost], Awaitable[None]]
                ) -> None:
    """``await fn(p)`` every ``interval_s`` seconds (Faust's timer; the simulation's fires
    in event time), on the owner once it has reconciled; failures are logged. 0: never."""
    if interval_s <= 0:
        return

    async def tick() -> None:
        if not (p.ownership.owns() and p.reconciled.is_set()):
            return
        try:
            await fn(p)
        except Exception as exc:
            log.warning("%s failed: %s", fn.__name__, exc)

    tick.__name__ = tick.__qualname__ = f"owner_{fn.__name__}"
    p.app.timer(interval_s)(tick)


def register(p: AgentHost) -> None:
    """The ownership task and the owner's timers."""
    trading = p.settings.trading
    p.app.task(follow_ownership_task(p))
    owner_timer(p, ACCOUNT_REFRESH_S, refresh_account)
    owner_timer(p, trading.reconcile_s, periodic_reconcile)
    owner_timer(p, trading.tick_s, send_tick)


def follow_ownership_task(p: AgentHost) -> Callable[[], Awaitable[None]]:
    """The task Faust runs (a named coroutine function)."""
    async def follow_account_ownership() -> None:
        await follow_ownership(p)
    return follow_account_ownership


async def refresh_account(p: AgentHost) -> None:
    """Equity and buying power for sizing (the last figures stay on a failure)."""
    p.account = await p.broker.account()


async def periodic_reconcile(p: AgentHost) -> None:
    """Executions the book missed, and quantities that differ, from the broker."""
    p.account = await p.broker.account()
    counts = await reconcile(p, state_all=False)
    await publish_reconciled(p, counts)
    if counts["mismatched"]:
        log.warning("periodic reconciliation with %s: %s", p.broker.name, counts)


async def send_tick(p: AgentHost) -> None:
    """The broker's clock onto ``ticks`` (the exits agent checks every position on it), and
    the account's day P&L against its limit onto ``metrics`` (for the alerts)."""
    at = await p.broker.clock_us()
    if at > 0:
        await p.send(p.topics.ticks, "Tick", "clock", {
            "source": p.broker.name, "event_time": at, "trace": {"tick_out": now_us()}})
        await publish_account(p, at)
