"""What the broker says at the end of a chaos run: every execution, the positions, the
entry orders it accepted and the cash, from the simulated broker's journal in Kafka or
from the local Alpaca server; and its realised P&L, counted as the book counts it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stocktracker.connectors.simulated.journal import KafkaJournal, SimState
from stocktracker.domain.orders import Execution
from stocktracker.domain.positions import apply_fill
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.topics import topic_name

START_CASH = 100_000.0


@dataclass(frozen=True)
class Account:
    """What the broker says: every execution, positions, accepted entry orders, cash."""

    executions: list[Execution]
    positions: dict[str, int]
    entries: list[str]
    cash: float


def simulated_account(run: Run) -> Account:
    k = run.settings.kafka
    saved = KafkaJournal(k.bootstrap_servers, topic_name(k.topic_prefix, "sim-broker"),
                         "simulated").load()
    state = SimState.from_dict(saved) if saved else SimState(cash=START_CASH)
    return Account(list(state.executions), {s: p.qty for s, p in state.positions.items()},
                   [c for c, o in state.orders.items() if o.side == "buy" and o.event != "rejected"],
                   state.cash)


def alpaca_account(server: Any) -> Account:
    from stocktracker.connectors.alpaca.convert import execution_id_of

    acct = server.account
    coid = {oid: o["client_order_id"] for oid, o in acct.orders.items()}
    executions = [Execution(execution_id_of(a["id"]), coid[a["order_id"]], a["order_id"],
                            a["symbol"], a["side"], int(a["qty"]), float(a["price"]),
                            int(a["cum_qty"]), 0.0,
                            int(datetime.fromisoformat(a["transaction_time"]).timestamp() * 1e6))
                  for a in acct.fills]
    return Account(executions, {s: q for s, (q, _) in acct.positions.items()},
                   [o["client_order_id"] for o in acct.orders.values()
                    if o["side"] == "buy" and o["status"] != "rejected"], acct.cash)


def broker_realized(executions: list[Execution]) -> float:
    """Realised P&L of the executions by average cost, commission included (as the book)."""
    books: dict[str, dict[str, Any]] = {}
    for e in sorted(executions, key=lambda e: e.at_us):
        books[e.symbol] = apply_fill(books.get(e.symbol), e.side, e.qty, e.price, e.commission)
    return sum(float(b["realized_pnl"]) for b in books.values())
