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

The same checks run on every ``Tick`` of the owner's clock (:mod:`agents.owner`), for every
open position, so a time exit fires at its deadline even when no quote comes: a position whose
quote is older than ``TRADING_STALE_POSITION_S`` is flagged ``stale`` and an exit fired
on it goes at market. Entry orders still open ``TRADING_ENTRY_TIMEOUT_S`` after their last
update are cancelled on the tick. An exit the broker keeps refusing is retried
with growing pauses, then the position is flagged ``stranded`` and an ``exit_stranded``
metric tells the operator. A position turning stale (or fresh again) publishes a
``position_stale`` metric (1 or 0) too.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import send_metric, stage_agent
from stocktracker.agents.book import publish_position
from stocktracker.agents.orders import is_open_entry, submit
from stocktracker.domain.book import Position
from stocktracker.domain.exits import (
    CANCEL,
    STRANDED,
    WAIT,
    ExitRule,
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
from stocktracker.domain.market_hours import Session
from stocktracker.domain.order_record import OrderRecord
from stocktracker.domain.orders import OrderRequest, parse_occ
from stocktracker.domain.price_steps import PriceSteps

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)


def register(p: AgentHost) -> None:
    """Register the exits agent: on every quote (its underlying's positions) and on every
    tick of the owner's clock (every position, and the entry timeouts)."""

    async def on_quote(quote: dict[str, Any], received: int) -> None:
        if not p.reconciled.is_set():  # a new owner sends nothing before it has reconciled
            return
        underlying = quote["underlying"]
        await check_positions(p, p.open_positions.of(underlying), int(quote["event_time"]),
                              quote)

    async def on_tick(tick: dict[str, Any], received: int) -> None:
        if not p.reconciled.is_set():
            return
        now = int(tick["event_time"])
        await check_positions(p, p.open_positions.all(), now, None)
        await cancel_stale_entries(p, now)

    stage_agent(p, p.topics.quotes, "exits", "Quote", on_quote)
    stage_agent(p, p.topics.ticks, "exit-timer", "Tick", on_tick)


async def check_positions(p: AgentHost, symbols: list[str], now: int,
                          quote: dict[str, Any] | None) -> None:
    """Run the exit rules on each open position of ``symbols`` at ``now``.

    The contract's quote is the one at hand, else the cached one, whichever is newer (a REST
    snapshot that arrives after a streamed quote is older than it: it moves no exit). A quote older than
    ``TRADING_STALE_POSITION_S`` (or none at all) flags the position ``stale``: the rules
    still read the last quote, but an exit sent on it goes at market (a limit from a stale
    quote could miss the close of a same-day contract).
    """
    tables, rule = p.tables, p.trading_rules.exits
    session = p.calendar.session_at(now)
    stale_us = int(p.settings.trading.stale_position_s * 1e6)
    for symbol in symbols:
        position = Position.from_record(symbol, tables.positions.get(symbol))
        if position.qty <= 0:
            continue
        cached = _newer(quote if quote is not None and quote["symbol"] == symbol else None,
                        tables.quotes.get(symbol))
        stale = cached is None or now - int(cached["event_time"]) > stale_us
        if stale != position.stale:
            position = await flag(p, position, now, stale=stale)
            await send_metric(p, position.underlying, "position_stale", 1.0 if stale else 0.0,
                              {"symbol": symbol}, now)
        steps = PriceSteps(position.underlying, None if cached is None else cached.get("penny"))
        mark = Mark(0.0, 0.0, steps) if cached is None else Mark(cached["bid"], cached["ask"], steps)
        await check_one(p, position, mark, now, session, rule, market=stale)


def _newer(at_hand: dict[str, Any] | None,
           cached: dict[str, Any] | None) -> dict[str, Any] | None:
    if at_hand is None or (cached is not None and cached["event_time"] > at_hand["event_time"]):
        return cached
    return at_hand


async def check_one(p: AgentHost, position: Position, mark: Mark, now: int,
                    session: Session | None, rule: ExitRule, market: bool) -> None:
    """One position: keep its high-water mark; send, cancel or wait on its exit."""
    state = update_high_water(PositionState(
        position.symbol, position.qty, position.avg_price, position.opened_us or now,
        parse_occ(position.symbol).expiry, position.entry_order or position.symbol,
        position.high_mark or position.avg_price), mark)
    if state.high_water > position.high_mark:
        position = replace(position, high_mark=state.high_water)
        p.tables.positions[position.symbol] = position.to_record()
    decision = evaluate_exit(state, mark, now, rule, session)
    if decision is None:
        return
    action, attempt = exit_step(resting_exit(p, position, state.entry_client_order_id),
                                decision.reason, now, rule.reprice_after_us, rule.max_attempts,
                                rule.retry_pause_us)
    if action == CANCEL:
        log.info("exit %s: %s fired; cancelling the resting %s first", position.symbol,
                 decision.reason, position.exit_reason)
        await p.broker.cancel(position.exit_order)
        return  # the next quote or tick sends the new exit once the cancel is confirmed
    if action == STRANDED:
        if not position.stranded:
            await flag(p, position, now, stranded=True)
            log.error("exit of %s refused %d times: position stranded, the operator must act",
                      position.symbol, attempt + 1)
            await send_metric(p, position.underlying, "exit_stranded", position.qty,
                              {"symbol": position.symbol, "reason": decision.reason}, now)
        return
    if action == WAIT:
        return
    coid = exit_order_id(state.entry_client_order_id, decision.reason, attempt)
    p.tables.positions[position.symbol] = replace(
        position, exit_order=coid, exit_reason=decision.reason, exit_attempt=attempt,
        exit_entry=state.entry_client_order_id, exit_sent_us=now).to_record()
    log.info("exit %s x%d: %s (attempt %d%s)", position.symbol, decision.qty, decision.detail,
             attempt, ", at market: no fresh quote" if market else "")
    limit = None if market else exit_limit(decision.reason, mark, rule, attempt)
    await close_position(p, coid, position.symbol, decision.qty, limit, decision.reason, now)


async def flag(p: AgentHost, position: Position, now: int, *, stale: bool | None = None,
               stranded: bool | None = None) -> Position:
    """Set or clear the position's flags in the table (None: leave it), and publish the
    position at ``now`` so the dashboard shows them (marked at its cached quote, else at
    its average price)."""
    flagged = replace(position, stale=position.stale if stale is None else stale,
                      stranded=position.stranded if stranded is None else stranded)
    log.warning("position %s at %d: stale %s, stranded %s", position.symbol, now,
                flagged.stale, flagged.stranded)
    p.tables.positions[position.symbol] = flagged.to_record()
    await publish_position(p, flagged, now, {}, flagged.avg_price)
    return flagged


async def cancel_stale_entries(p: AgentHost, now: int) -> None:
    """Entry orders still (partly) unfilled ``TRADING_ENTRY_TIMEOUT_S`` after their last
    update are cancelled (from the orders table, through its open-entries index: a new owner
    knows them too)."""
    rule = p.trading_rules.exits
    for coid in p.open_entries.all():
        order = p.tables.orders.get(coid)
        if not is_open_entry(order):
            continue
        why = entry_timed_out(int(order["event_time"]), now, int(order["qty"]),
                              int(order.get("filled_qty") or 0), rule)
        if why is not None:
            log.info("cancelling entry %s: %s", coid, why)
            await p.broker.cancel(coid)


def resting_exit(p: AgentHost, position: Position, entry: str) -> RestingExit | None:
    """The exit order this position (of this entry) already has, with its last status."""
    coid = position.exit_order
    if not coid or position.exit_entry != entry:
        return None
    stored = p.tables.orders.get(coid)
    sent = p.order_meta.get(coid)
    status = str(stored.get("status") or "") if stored else sent.status if sent else ""
    return RestingExit(position.exit_reason, status,
                       position.exit_attempt, position.exit_sent_us)


async def close_position(p: AgentHost, coid: str, symbol: str, qty: int, limit_price: float | None,
                         reason: str, now: int) -> None:
    """Send a sell-to-close order (limit at ``limit_price``, market when None)."""
    order = OrderRecord.exit(coid, symbol, qty, limit_price, reason, p.broker.name, now)
    await submit(p, OrderRequest(coid, symbol, "sell", qty, "limit" if limit_price else "market",
                                 limit_price, "close"), order)
