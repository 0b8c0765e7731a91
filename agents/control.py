"""Control agent: the operator's commands on ``control`` (pause, resume, kill, flatten,
close, set_limits) change what the trading agents may do.

The command record itself (actor, time, params) is the audit trail on the topic. The state
(:class:`domain.control.ControlState`) is kept in the ``control`` table so a restarted
worker comes back paused if it was paused. Actions: ``cancel_entries`` cancels every open
entry order; ``flatten`` sends a sell-to-close for every position the broker holds (at the
cached bid, or at market without a quote), and ``close`` for one of them; resting exits are
cancelled first, as the broker holds their contracts. A bad command goes to ``deadletter``
with why.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from agents.exits import close_position
from domain.control import (
    CANCEL_ENTRIES,
    CLOSE,
    FLATTEN,
    ControlError,
    ControlState,
    apply_command,
)

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)
KEY = "operator"


def register(p: Pipeline) -> None:
    """Register the control agent."""
    table = p.tables.control

    async def handle(command: dict[str, Any], received: int) -> None:
        current = current_state(p)
        new, actions = apply_command(current, command["command"], command["params"])  # raises: dead letter
        p.control.state = new
        table[KEY] = p.control.record = new.to_record()
        log.warning("control %s by %s: %s -> %s", command["command"], command["actor"],
                    command["params"], new.to_record())
        if CANCEL_ENTRIES in actions:
            for order in await p.broker.open_orders():
                if order.side == "buy":
                    await p.broker.cancel(order.client_order_id)
        if FLATTEN in actions:
            await close_held(p, None, command)
        symbol = command["params"].get("symbol", "").strip()
        if CLOSE in actions and not await close_held(p, symbol, command):
            log.warning("close %s by %s: the broker holds none", symbol, command["actor"])

    stage_agent(p, p.topics.control, "control", "Control", handle)


async def close_held(p: Pipeline, symbol: str | None, command: dict[str, Any]) -> int:
    """Sell to close what the broker holds of ``symbol`` (everything when None), after
    cancelling the resting exits on it; returns how many positions were closed."""
    for order in await p.broker.open_orders():
        if order.side == "sell" and symbol in (None, order.symbol):
            await p.broker.cancel(order.client_order_id)
    now = int(command["event_time"])
    closed = 0
    for held in await p.broker.positions():
        if symbol not in (None, held.symbol):
            continue
        quote = p.tables.quotes.get(held.symbol)
        coid = "fl-" + hashlib.sha256(f"{held.symbol}:{now}".encode()).hexdigest()[:24]
        await close_position(p, coid, held.symbol, held.qty,
                             round(quote["bid"], 2) if quote and quote["bid"] > 0 else None,
                             f"{command['command'].strip().lower()} by {command['actor']}", now)
        closed += 1
    return closed


def current_state(p: Pipeline) -> ControlState:
    """The switches and limits as the control table holds them (the owner's state: the
    control topic and table have one partition, so every command reaches the owner).

    A stored state that does not validate (written by an older version, or by hand) is
    refused loudly and the last valid state is kept: trading never runs on a NaN limit.
    """
    stored = p.tables.control.get(KEY)
    if not stored or stored == p.control.record:
        return p.control.state
    try:
        state = ControlState.from_record(stored)
    except ControlError as exc:
        log.error("stored control state refused (%s): %s; keeping the last valid one: %s",
                  exc, stored, p.control.state.to_record())
        p.control.record = stored  # said once, not on every signal
        return p.control.state
    p.control.state, p.control.record = state, stored
    return state


def restore(p: Pipeline) -> None:
    """Load the last control state from the table (on becoming the owner, before trading)."""
    current_state(p)
