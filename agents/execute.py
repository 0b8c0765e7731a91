"""Execute agent: a signal becomes a 0DTE option order, after every risk check.

The decision (contract, size, risk) is pure (:mod:`domain.decision`); this agent gathers
its inputs from the tables (chain, positions, risk state, control state), sends the order
through the broker and records it. The client order id is derived from the signal id, so
a retried or replayed signal can never open a second position: the orders table
(changelogged) and the broker both refuse an id they have seen. What the broker does with
the order afterwards arrives through :mod:`agents.orders`.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import send_metric, stage_agent
from stocktracker.agents.control import current_state
from stocktracker.agents.orders import store_order, submit
from stocktracker.domain.book import day_pnl
from stocktracker.domain.contracts import ChainQuote
from stocktracker.domain.control import effective_limits
from stocktracker.domain.decision import Book, decide
from stocktracker.domain.order_record import OrderRecord
from stocktracker.domain.orders import OrderRequest
from stocktracker.domain.positions import unrealized
from stocktracker.domain.risk import RiskMemory
from stocktracker.domain.vol_risk import vol_state_at
from stocktracker.streams.core.trace import stamped

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)


def client_order_id(signal_id: str) -> str:
    """Deterministic client order id of the opening order of a signal."""
    return "st-" + hashlib.sha256(signal_id.encode()).hexdigest()[:24]


def register(p: AgentHost) -> None:
    """Register the execute agent."""
    tables = p.tables

    async def handle(signal: dict[str, Any], received: int) -> None:
        await p.reconciled.wait()
        coid = client_order_id(signal["id"])
        # The changelogged orders table remembers every id; past it (a lost table, a replay on
        # a fresh app id) the broker's submit is idempotent on the id too.
        if tables.orders.get(coid) is not None:
            log.info("signal %s already has order %s; not sending again", signal["id"], coid)
            return
        underlying, now = signal["ticker"], signal["event_time"]
        spot = tables.quotes.get(underlying)
        session = p.calendar.session_at(now)
        chain = [ChainQuote.from_dict(q) for q in p.chain_index.chain(underlying)]
        # an unreadable volatility record raises: the signal is dead-lettered, not traded blind
        vol = vol_state_at(tables.volatility.get(underlying), now,
                           session is not None and session.contains(now), p.trading_rules.vol)
        decision = decide(
            signal=signal, spot_mid=(spot["bid"] + spot["ask"]) / 2 if spot else None,
            chain=chain, book=book_of(p, underlying, session.day.isoformat() if session else ""),
            session=session,
            account=p.account, rules=p.trading_rules, control=current_state(p), vol=vol)
        order = OrderRecord.entry(
            coid, signal["id"], underlying, decision.symbol, decision.option_type,
            decision.strike, decision.expiry, decision.qty, p.trading_rules.order_type,
            decision.limit_price, p.broker.name, decision.sizing, now,
            stamped(signal["trace"], "execute", received), decision.reasons,
            decision.contract_reason)
        store_order(p, order)
        ids = {"signal_id": signal["id"], "client_order_id": coid}
        if not decision.ok:
            log.info("signal %s: no order: %s", signal["id"], "; ".join(decision.reasons), extra=ids)
            await p.send(p.topics.orders, "Order", underlying, order.to_record())
            return
        log.info("signal %s: buy %d %s at %s (%s; %s)", signal["id"], decision.qty, decision.symbol,
                 decision.limit_price or "market", decision.contract_reason, decision.sizing,
                 extra={**ids, "symbol": decision.symbol})
        kept = RiskMemory((*decision.recent_orders_us, now))  # the decision pruned the old
        tables.risk_state[underlying] = kept.to_record()
        await submit(p, OrderRequest(coid, decision.symbol, "buy", decision.qty,
                                     p.trading_rules.order_type, decision.limit_price, "open"),
                     order)

    stage_agent(p, p.topics.signals, "execute", "Signal", handle)


def mark_of(p: AgentHost, symbol: str, position: dict[str, Any]) -> float:
    """The contract's mid from the quote table (its average price when none is cached)."""
    quote = p.tables.quotes.get(symbol)
    return (quote["bid"] + quote["ask"]) / 2 if quote else float(position["avg_price"])


def book_of(p: AgentHost, underlying: str, day: str) -> Book:
    """What the risk checks need to know of the positions, from the tables; the day's P&L
    is ``day``'s realised P&L (ISO date, as the book agent keys it) plus open positions'
    unrealised P&L at the cached mids. The trading tables live on the owner's one
    partition, so these sums cover the whole account."""
    positions = [(s, pos) for s, pos in p.tables.positions.items() if pos.get("qty")]
    memory = RiskMemory.from_record(p.tables.risk_state.get(underlying))
    return Book(
        position_contracts=sum(int(pos["qty"]) for _, pos in positions
                               if pos.get("underlying") == underlying),
        total_contracts=sum(int(pos["qty"]) for _, pos in positions),
        position_premium=sum(pos["qty"] * pos["avg_price"] * 100 for _, pos in positions
                             if pos.get("underlying") == underlying),
        total_premium=sum(pos["qty"] * pos["avg_price"] * 100 for _, pos in positions),
        day_pnl=day_pnl(p.tables.positions, day)
        + sum(unrealized(pos, mark_of(p, s, pos)) for s, pos in positions),
        recent_orders_us=memory.recent_orders_us,
    )


async def publish_account(p: AgentHost, now: int) -> None:
    """The owner's day P&L (realised + unrealised at the cached mids, as the daily-loss
    check sees it) and the daily-loss limit in force, as ``account_day_pnl`` and
    ``account_max_daily_loss`` metrics (the alert monitor tells 50/80/100 % of it)."""
    session = p.calendar.session_at(now)
    book = book_of(p, "", session.day.isoformat() if session else "")
    limit = effective_limits(p.trading_rules.limits, current_state(p)).max_daily_loss
    labels = {"stage": "owner", "worker": p.worker_id}
    for name, value in (("account_day_pnl", book.day_pnl), ("account_max_daily_loss", limit)):
        await send_metric(p, name, name, value, labels, now)
