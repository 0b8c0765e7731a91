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

from stocktracker.agents.base import stage_agent
from stocktracker.agents.exits import close_position
from stocktracker.domain.control import (
    CANCEL_ENTRIES,
    CLOSE,
    FLATTEN,
    ControlError,
    ControlState,
    apply_command,
    state_params,
)
from stocktracker.streams.core.trace import now_us

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)
KEY = "operator"


def register(p: AgentHost) -> None:
    """Register the control agent."""
    table = p.tables.control

    async def handle(command: dict[str, Any], received: int) -> None:
        current = current_state(p)
        try:
            new, actions = apply_command(current, command["command"], command["params"])
        except ControlError as exc:
            await publish_state(p, current, command, str(exc))
            raise  # and dead-lettered
        p.control.state = new
        table[KEY] = p.control.record = new.to_record()
        await publish_state(p, new, command)
        log.warning("control %s by %s: %s -> %s", command["command"], command["actor"],
                    command["params"], new.to_record())
        if actions:  # orders go to the broker only once the owner has reconciled
            await p.reconciled.wait()
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


async def close_held(p: AgentHost, symbol: str | None, command: dict[str, Any]) -> int:
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


def current_state(p: AgentHost) -> ControlState:
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


async def publish_state(p: AgentHost, state: ControlState, command: dict[str, Any],
                        error: str = "") -> None:
    """The switches as the owner holds them, on ``switches``: what the dashboard shows
    (not the command as it was sent). ``command`` is what was applied (or refused)."""
    params = {**state_params(state), "applied": str(command["command"]),
              "by": str(command["actor"]), "accepted": "false" if error else "true"}
    if error:
        params["error"] = error[:500]
    await p.send(p.topics.switches, "Control", KEY, {
        "command": "state", "actor": f"owner {p.worker_id}", "params": params,
        "event_time": int(command["event_time"]), "trace": {"control_out": now_us()}})


async def restore(p: AgentHost) -> None:
    """Load the last control state from the table (on becoming the owner, before trading)
    and say which it is on ``switches``."""
    from stocktracker.agents.orders import broker_clock

    state = current_state(p)
    at = await broker_clock(p)
    await publish_state(p, state, {"command": "restore", "actor": "owner", "event_time": at})
