"""Execute agent: a signal becomes a 0DTE option order, after every risk check.

The client order id is derived from the signal id, so a retried or replayed signal can
never open a second position: the orders table (changelogged) and the broker both refuse
an id they have seen.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from connectors.simulated.broker import SimulatedBroker
from domain.positions import apply_fill
from domain.risk import OrderIntent, RiskLimits, RiskState, check, prune_recent
from domain.strikes import ChainQuote, choose_contract
from streams.trace import stamped

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)


def client_order_id(signal_id: str) -> str:
    """Deterministic client order id of the opening order of a signal."""
    return "st-" + hashlib.sha256(signal_id.encode()).hexdigest()[:24]


def risk_limits(p: Pipeline) -> RiskLimits:
    """Risk limits from settings."""
    r = p.settings.risk
    return RiskLimits(r.max_contracts_per_order, r.max_position_contracts,
                      r.max_total_contracts, r.max_orders_per_minute, r.entry_cutoff_minutes,
                      int(r.max_quote_age_s * 1e6))


def register(p: Pipeline) -> None:
    """Register the execute agent with the simulated broker."""
    trading = p.settings.trading
    broker = SimulatedBroker(trading.slippage, trading.commission)
    p.broker = broker
    limits = risk_limits(p)
    tables = p.tables

    async def handle(signal: dict[str, Any], received: int) -> None:
        coid = client_order_id(signal["id"])
        if tables.orders.get(coid) is not None or broker.known(coid):
            log.info("signal %s already has order %s; not sending again", signal["id"], coid)
            return
        underlying, now = signal["ticker"], signal["event_time"]
        session = p.calendar.session_at(now)
        spot = tables.quotes.get(underlying)
        contract = None
        if spot is not None and session is not None:
            chain = [ChainQuote.from_dict(q) for q in p.chain_index.chain(underlying)]
            contract = choose_contract(chain, (spot["bid"] + spot["ask"]) / 2,
                                       signal["direction"], session.day.isoformat(),
                                       trading.strike_offset)
        order: dict[str, Any] = {
            "client_order_id": coid, "signal_id": signal["id"], "underlying": underlying,
            "symbol": "", "side": "buy", "option_type": None, "strike": None, "expiry": None,
            "qty": trading.contracts_per_signal, "order_type": "limit", "limit_price": None,
            "status": "rejected", "reason": None, "broker": broker.name,
            "event_time": now, "trace": {},
        }
        risk = tables.risk_state[underlying]
        if contract is None:
            order["reason"] = "no liquid 0DTE contract in the chain cache"
        else:
            order.update(symbol=contract.symbol, option_type=contract.option_type,
                         strike=contract.strike, expiry=contract.expiry,
                         limit_price=round(contract.ask, 2))
            state = RiskState(position_contracts=int(risk.get("open_contracts", 0)),
                              total_contracts=sum(int(v.get("open_contracts", 0))
                                                  for v in tables.risk_state.values()),
                              recent_orders_us=tuple(risk.get("recent", ())))
            intent = OrderIntent(underlying, contract.symbol, order["qty"],
                                 order["limit_price"], contract.bid, contract.ask,
                                 contract.quote_us, now)
            verdict = check(intent, state, limits, session)
            if not verdict.ok:
                order["reason"] = "; ".join(verdict.reasons)
        if order["reason"] is not None:
            tables.orders[coid] = "rejected"
            order["trace"] = stamped(signal["trace"], "execute", received)
            await p.send(p.topics.orders, "Order", underlying, order)
            return
        assert contract is not None
        fill = broker.submit(coid, "buy", order["qty"], "limit", order["limit_price"],
                             contract.bid, contract.ask)
        order["status"] = "filled" if fill else "submitted"
        tables.orders[coid] = order["status"]
        recent = [*prune_recent(risk.get("recent", ()), now), now]
        filled_qty = fill.qty if fill else 0
        tables.risk_state[underlying] = {
            **risk, "recent": recent,
            "open_contracts": int(risk.get("open_contracts", 0)) + filled_qty,
        }
        order["trace"] = stamped(signal["trace"], "execute", received)
        await p.send(p.topics.orders, "Order", underlying, order)
        if fill is None:
            return
        position = apply_fill(tables.positions.get(contract.symbol), "buy", fill.qty,
                              fill.price, fill.commission)
        tables.positions[contract.symbol] = position
        trace = order["trace"]
        await p.send(p.topics.fills, "Fill", underlying, {
            "client_order_id": coid, "underlying": underlying, "symbol": contract.symbol,
            "side": "buy", "qty": fill.qty, "price": fill.price,
            "commission": fill.commission, "event_time": now, "trace": trace})
        await p.send(p.topics.positions, "Position", underlying, {
            "underlying": underlying, "symbol": contract.symbol, "qty": position["qty"],
            "avg_price": position["avg_price"], "realized_pnl": position["realized_pnl"],
            "mark": contract.mid, "event_time": now, "trace": trace})

    stage_agent(p, p.topics.signals, "execute", "Signal", handle)
