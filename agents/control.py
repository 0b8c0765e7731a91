"""Control agent: the operator's commands on ``control`` (pause, resume, kill, flatten,
set_limits) change what the trading agents may do.

The command record itself (actor, time, params) is the audit trail on the topic. The state
(:class:`domain.control.ControlState`) is kept in the ``control`` table so a restarted
worker comes back paused if it was paused. Actions: ``cancel_entries`` cancels every open
entry order; ``flatten`` sends a sell-to-close for every position the broker holds (at the
cached bid, or at market without a quote). A bad command goes to ``deadletter`` with why.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from agents.exits import close_position
from domain.control import CANCEL_ENTRIES, FLATTEN, ControlState, apply_command

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)
KEY = "operator"


def register(p: Pipeline) -> None:
    """Register the control agent."""
    table = p.tables.control

    async def handle(command: dict[str, Any], received: int) -> None:
        stored = table.get(KEY)
        current = ControlState.from_record(stored) if stored else p.control.state
        new, actions = apply_command(current, command["command"], command["params"])  # raises: dead letter
        p.control.state = new
        table[KEY] = new.to_record()
        log.warning("control %s by %s: %s -> %s", command["command"], command["actor"],
                    command["params"], new.to_record())
        if CANCEL_ENTRIES in actions:
            for order in await p.broker.open_orders():
                if order.side == "buy":
                    await p.broker.cancel(order.client_order_id)
        if FLATTEN in actions:
            # Resting exits hold the contracts at the broker: cancel them before selling.
            for order in await p.broker.open_orders():
                if order.side == "sell":
                    await p.broker.cancel(order.client_order_id)
            now = int(command["event_time"])
            for held in await p.broker.positions():
                quote = p.tables.quotes.get(held.symbol)
                coid = "fl-" + hashlib.sha256(f"{held.symbol}:{now}".encode()).hexdigest()[:24]
                await close_position(p, coid, held.symbol, held.qty,
                                     round(quote["bid"], 2) if quote and quote["bid"] > 0 else None,
                                     f"flatten by {command['actor']}", now)

    stage_agent(p, p.topics.control, "control", "Control", handle)


def restore(p: Pipeline) -> None:
    """Load the last control state from the table (on start, before trading)."""
    stored = p.tables.control.get(KEY)
    if stored:
        p.control.state = ControlState.from_record(stored)
