"""Exits agent: profit target, stop loss, trailing stop, time exit; stale entries cancelled.

Alpaca takes options orders as ``day`` only and has no bracket orders for them, so exits
are our own sell-to-close orders. On every quote of an underlying (``quotes`` topic, in
event time) each open position of that underlying is checked against the exit rules
(:mod:`domain.exits`) with its contract's cached quote, the high-water mark for the
trailing stop is kept in the positions table, and an exit order is sent with an id derived
from the entry order and the reason, so a replay or a second trigger cannot sell twice
(:func:`domain.exits.exit_step`: a resting target is cancelled before a stop is sent, or
when it has rested ``TRADING_EXIT_REPRICE_S`` while the target still holds; an exit that
ended unfilled is sent again as the next attempt, at the bid).
Entry orders of this process still open after ``TRADING_ENTRY_TIMEOUT_S`` are cancelled.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from domain.exits import (
    CANCEL,
    WAIT,
    Mark,
    PositionState,
    RestingExit,
    entry_timed_out,
    evaluate_exit,
    exit_limit,
    exit_order_id,
    exit_step,
    update_high_water,
)
from domain.orders import OrderRequest, parse_occ

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)


def register(p: Pipeline) -> None:
    """Register the exits agent."""
    tables, rule = p.tables, p.trading_rules.exits

    async def handle(quote: dict[str, Any], received: int) -> None:
        now, underlying = int(quote["event_time"]), quote["underlying"]
        session = p.calendar.session_at(now)
        for symbol in p.open_positions.of(underlying):
            position = tables.positions.get(symbol)
            if not position or position.get("qty", 0) <= 0:
                continue
            cached = quote if quote["symbol"] == symbol else tables.quotes.get(symbol)
            if not cached:
                continue
            mark = Mark(cached["bid"], cached["ask"])
            state = update_high_water(PositionState(
                symbol, int(position["qty"]), float(position["avg_price"]),
                int(position.get("opened_us") or now), parse_occ(symbol).expiry,
                str(position.get("entry_order") or symbol),
                float(position.get("high_mark") or position["avg_price"])), mark)
            if state.high_water > float(position.get("high_mark") or 0.0):
                tables.positions[symbol] = {**position, "high_mark": state.high_water}
            decision = evaluate_exit(state, mark, now, rule, session)
            if decision is None:
                continue
            action, attempt = exit_step(resting_exit(p, position, state.entry_client_order_id),
                                        decision.reason, now, rule.reprice_after_us)
            if action == CANCEL:
                log.info("exit %s: %s fired; cancelling the resting %s first", symbol,
                         decision.reason, position.get("exit_reason"))
                await p.broker.cancel(str(position["exit_order"]))
                continue  # the next quote sends the new exit once the cancel is confirmed
            if action == WAIT:
                continue
            coid = exit_order_id(state.entry_client_order_id, decision.reason, attempt)
            tables.positions[symbol] = {**tables.positions[symbol], "exit_order": coid,
                                        "exit_reason": decision.reason, "exit_attempt": attempt,
                                        "exit_entry": state.entry_client_order_id,
                                        "exit_sent_us": now}
            log.info("exit %s x%d: %s (attempt %d)", symbol, decision.qty, decision.detail,
                     attempt)
            await close_position(p, coid, symbol, decision.qty,
                                 exit_limit(decision.reason, mark, rule, attempt),
                                 decision.reason, now)
        for coid, meta in list(p.order_meta.items()):
            if meta.get("intent") != "open" or meta.get("underlying") != underlying:
                continue
            why = entry_timed_out(int(meta["event_time"]), now, int(meta["qty"]),
                                  int(meta.get("filled_qty", 0)), rule)
            if why is not None:
                log.info("cancelling entry %s: %s", coid, why)
                await p.broker.cancel(coid)

    stage_agent(p, p.topics.quotes, "exits", "Quote", handle)


def resting_exit(p: Pipeline, position: dict[str, Any], entry: str) -> RestingExit | None:
    """The exit order this position (of this entry) already has, with its last status."""
    coid = position.get("exit_order")
    if not coid or position.get("exit_entry") != entry:
        return None
    known = p.tables.orders.get(coid) or p.order_meta.get(coid) or {}
    return RestingExit(str(position.get("exit_reason") or ""), str(known.get("status") or ""),
                       int(position.get("exit_attempt") or 0),
                       int(position.get("exit_sent_us") or 0))


async def close_position(p: Pipeline, coid: str, symbol: str, qty: int, limit_price: float | None,
                         reason: str, now: int) -> None:
    """Send a sell-to-close order (limit at ``limit_price``, market when None)."""
    occ = parse_occ(symbol)
    p.order_meta[coid] = {
        "client_order_id": coid, "signal_id": "", "underlying": occ.underlying, "symbol": symbol,
        "side": "sell", "option_type": occ.option_type, "strike": occ.strike, "expiry": occ.expiry,
        "qty": qty, "order_type": "limit" if limit_price else "market", "limit_price": limit_price,
        "status": "pending", "reason": reason, "broker": p.broker.name, "intent": "close",
        "filled_qty": 0, "filled_avg_price": 0.0, "broker_order_id": "", "sizing": "",
        "event_time": now, "trace": {}}
    await p.broker.submit(OrderRequest(coid, symbol, "sell", qty,
                                       "limit" if limit_price else "market", limit_price, "close"))
