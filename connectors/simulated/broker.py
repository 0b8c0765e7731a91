"""Simulated broker: the :class:`~connectors.broker.Broker` interface, filled from quotes.

Used by the demo, the tests and backtests. Orders fill against the quotes it is given
(:meth:`SimulatedBroker.on_quote`, fed by the market agent), in event time:

- a market order crosses the spread and pays ``slippage`` per contract share;
- a limit order fills at the touch only when the touch is at or better than its limit;
- an order waits ``latency_us`` of event time before it can fill (0: the quote at hand);
  then it meets the quote standing at that moment (known when the next quote comes);
- a *derived* quote (imported history: a bar's price and a modelled spread) never fills
  the order decided on it: the first one after the order and its latency does (the next
  bar's price), and limit orders on it pay ``slippage`` as well (:mod:`domain.fills`);
- a quote shows ``ask_size``/``bid_size`` contracts: a larger order fills partially and
  the rest waits for the next quote (``partial_fill`` then ``fill``);
- commission per contract on every fill; a buy the cash cannot pay for is rejected.

Idempotent on ``client_order_id`` like a real broker: the same id never opens twice. Every
fill gets an execution id, ``<broker_order_id>.<n>``, listed by :meth:`~SimulatedBroker.executions`.

With a :class:`~connectors.simulated.journal.Journal` the account outlives the process, as a
real broker's does: its state is read from the journal on first use and written after every
change (order accepted or rejected, fill, cancel, settlement) before the change's update is
published, so no one sees an update for a change a crash could lose. A change the journal
refuses is undone and raises :class:`~connectors.broker.BrokerError`. Quotes are not kept
(the worker's quote table refills them through ``quote_source``); the clock is kept with the
next change (the pipeline re-reads what it had not committed, which moves it again).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from stocktracker.connectors.broker import BrokerError
from stocktracker.connectors.simulated.journal import Journal, JournalError, Resting, SimState
from stocktracker.domain.fills import Touch, may_fill, simulate_fill
from stocktracker.domain.orders import (
    CANCELED,
    FILL,
    NEW,
    PARTIAL_FILL,
    REJECTED,
    Account,
    BrokerPosition,
    Execution,
    OrderRequest,
    OrderUpdate,
    parse_occ,
)
from stocktracker.domain.positions import MULTIPLIER
from stocktracker.domain.price_steps import PriceSteps


class SimulatedBroker:
    """In-process broker (see the module docstring).

    Parameters
    ----------
    slippage:
        $ per contract share added to a market buy (taken from a market sell).
    commission_per_contract:
        $ per contract per fill.
    cash:
        Starting cash (buying power: long options only, so cash); a journal's state wins.
    latency_us:
        Event time between an order and the first quote it may fill against.
    journal:
        Where the account is kept across restarts (None: in memory only, as in backtests).
    """

    name = "simulated"

    def __init__(self, slippage: float = 0.01, commission_per_contract: float = 0.65,
                 cash: float = 100_000.0, latency_us: int = 0,
                 journal: Journal | None = None) -> None:
        self.slippage = slippage
        self.commission = commission_per_contract
        self.latency_us = latency_us
        self.quotes: dict[str, Touch] = {}
        # Where to look for a quote not seen since start (the worker's quote table).
        self.quote_source: Callable[[str], Touch | None] = lambda symbol: None
        self._journal = journal
        self._state = SimState(cash=cash)
        self._saved: dict[str, Any] | None = None  # the journal's last state (None: not read)
        self._load_lock = threading.Lock()  # one first read, whichever thread asks first
        self._pending: list[OrderUpdate] = []  # changed, not yet saved nor published
        self._updates: asyncio.Queue[OrderUpdate] = asyncio.Queue()

    @property
    def cash(self) -> float:
        """Cash, $."""
        return self._ready().cash

    def advance(self, at_us: int) -> None:
        """The pipeline has read a record of event time ``at_us``: orders sent from now on
        are stamped no earlier (their latency runs from the decision, not from the
        contract's last quote). Does not read the journal (kept with the next change)."""
        self._state.clock_us = max(self._state.clock_us, at_us)

    # ---- market data ------------------------------------------------------------------------
    def on_quote(self, symbol: str, bid: float, ask: float, bid_size: int, ask_size: int,
                 at_us: int, penny: bool | None = None, derived: bool = False) -> list[OrderUpdate]:
        """Take a quote (``derived``: its bid/ask are a spread model's); fill what it can
        fill. Returns the updates it caused."""
        state = self._ready()
        standing = self._touch(symbol)
        self.quotes[symbol] = Touch(bid, ask, bid_size, ask_size, at_us, penny, derived)
        for coid, resting in list(state.resting.items()):
            if resting.request.symbol != symbol:
                continue
            arrived_us = resting.since_us + self.latency_us
            if self.latency_us and standing is not None and not standing.derived \
                    and standing.at_us <= arrived_us < at_us:
                # the order reached the market while the last quote still stood: it meets that
                # quote, not this later one (a bar is no standing quote: it waits for the next)
                self._try_fill(coid, arrived_us, standing)
            if coid in state.resting and may_fill(at_us, resting.since_us, self.latency_us, derived):
                self._try_fill(coid, at_us)
        return self._commit() if self._pending else []

    # ---- the Broker interface ---------------------------------------------------------------
    async def submit(self, request: OrderRequest, at_us: int | None = None) -> OrderUpdate:
        """Accept (or reject) an order and fill it against the quote at hand when it can.

        ``at_us`` is the event time of the order (default: the latest event time the
        pipeline has read, or the contract's last quote when later).
        """
        state = self._ready()
        coid = request.client_order_id
        known = state.orders.get(coid)
        if known is not None:
            return known
        touch = self._touch(request.symbol)
        now = at_us if at_us is not None else max(state.clock_us, touch.at_us if touch else 0)
        state.orders_made += 1
        base = OrderUpdate(coid, f"sim-{state.orders_made}", request.symbol, request.side,
                           request.qty, NEW, at_us=now)
        reason = self._refusal(request, touch)
        if reason:
            self._change(replace(base, event=REJECTED, reason=reason))
        else:
            self._change(base)
            state.resting[coid] = Resting(request, now)
            if touch is not None and may_fill(max(now, touch.at_us), now, self.latency_us,
                                              touch.derived):
                self._try_fill(coid, max(now, touch.at_us))
        self._commit()
        return self._state.orders[coid]

    async def cancel(self, client_order_id: str) -> OrderUpdate | None:
        """Cancel what has not filled yet."""
        state = self._ready()
        order = state.orders.get(client_order_id)
        if order is None or order.done:
            return order
        state.resting.pop(client_order_id, None)
        update = self._change(replace(order, event=CANCELED, last_fill_qty=0, last_fill_price=0.0,
                                      last_fill_commission=0.0, execution_id=""))
        self._commit()
        return update

    async def order(self, client_order_id: str) -> OrderUpdate | None:
        """The order's state, or None."""
        return self._ready().orders.get(client_order_id)

    async def open_orders(self) -> list[OrderUpdate]:
        """Orders not done."""
        return [o for o in self._ready().orders.values() if not o.done]

    async def positions(self) -> list[BrokerPosition]:
        """Open positions."""
        return [p for p in self._ready().positions.values() if p.qty]

    async def account(self) -> Account:
        """Cash is equity at cost here (marks are the book's job)."""
        state = self._ready()
        held = sum(p.qty * p.avg_entry_price * MULTIPLIER for p in state.positions.values())
        return Account(equity=state.cash + held, buying_power=state.cash, cash=state.cash)

    async def executions(self, since_us: int) -> list[Execution]:
        """Every fill at or after ``since_us``, oldest first (kept for 7 days of the clock
        when journaled)."""
        return sorted((e for e in self._ready().executions if e.at_us >= since_us),
                      key=lambda e: e.at_us)

    async def clock_us(self) -> int:
        """The latest event time the pipeline has read (:meth:`advance`), µs."""
        return self._ready().clock_us

    async def updates(self) -> AsyncIterator[OrderUpdate]:
        """Every order event, in order."""
        while True:
            yield await self._updates.get()

    async def close(self) -> None:
        """Nothing to release."""

    def settle(self, symbol: str, qty: int, price: float) -> None:
        """Expiry: ``qty`` contracts of ``symbol`` leave the account at ``price`` (their
        intrinsic value), without an order and without commission (not an execution)."""
        state = self._ready()
        held = state.positions.get(symbol)
        if held is None or held.qty < qty:
            raise ValueError(f"cannot settle {qty} {symbol}: holding {held.qty if held else 0}")
        left = held.qty - qty
        state.positions[symbol] = BrokerPosition(symbol, left, held.avg_entry_price if left else 0.0)
        state.cash += price * qty * MULTIPLIER
        self._commit()

    def market_feed(self) -> SimulatedBroker:
        """Itself: it fills from the quotes and stream time the pipeline gives it."""
        return self

    def use_quotes(self, lookup: Callable[[str], Touch | None]) -> None:
        """Where to find a quote not seen since start (the worker's quote table)."""
        self.quote_source = lookup

    def drained(self) -> bool:
        """True when every update it made has been read from :meth:`updates`."""
        return self._updates.empty()

    def known(self, client_order_id: str) -> bool:
        """True if the broker has seen this client order id."""
        return client_order_id in self._ready().orders

    # ---- internals --------------------------------------------------------------------------
    def _ready(self) -> SimState:
        """The state, read from the journal on first use."""
        if self._journal is None or self._saved is not None:
            return self._state
        with self._load_lock:
            if self._saved is None:
                try:
                    loaded = self._journal.load()
                except JournalError as exc:
                    raise BrokerError(f"simulated broker: cannot read its journal: {exc}") from exc
                if loaded is not None:
                    clock_us = self._state.clock_us  # what advance() saw before the first use
                    self._state = SimState.from_dict(loaded)
                    self._state.clock_us = max(self._state.clock_us, clock_us)
                self._saved = self._state.to_dict()
        return self._state

    async def load(self) -> None:
        """Read the journal now, in a thread: a Kafka read can take seconds, and the worker's
        event loop (heartbeats, every agent) must not wait for it. Later calls return at once.

        Raises
        ------
        BrokerError
            When the journal cannot be read (the next use tries again).
        """
        await asyncio.to_thread(self._ready)

    def _refusal(self, request: OrderRequest, touch: Touch | None) -> str:
        if request.order_type == "limit" and request.limit_price is not None:
            steps = PriceSteps(parse_occ(request.symbol).underlying, touch.penny if touch else None)
            if not steps.on_step(request.limit_price):
                return (f"invalid limit_price {request.limit_price}: off the "
                        f"${steps.tick(request.limit_price):.2f} price steps")
        if request.side == "sell":
            held = self._state.positions.get(request.symbol)
            if held is None or held.qty < request.qty:
                return f"cannot sell {request.qty} {request.symbol}: holding {held.qty if held else 0}"
            return ""
        price = request.limit_price if request.order_type == "limit" else (touch.ask if touch else None)
        if price is None:
            return "no quote to price a market order"
        cost = price * request.qty * MULTIPLIER + self.commission * request.qty
        if cost > self._state.cash:
            return f"insufficient buying power: {cost:.2f} needed, {self._state.cash:.2f} available"
        return ""

    def _touch(self, symbol: str) -> Touch | None:
        touch = self.quotes.get(symbol)
        if touch is None:
            touch = self.quote_source(symbol)
            if touch is not None:
                self.quotes[symbol] = touch
        return touch

    def _try_fill(self, coid: str, at_us: int, touch: Touch | None = None) -> OrderUpdate | None:
        state = self._state
        resting = state.resting[coid]
        request = resting.request
        touch = touch or self._touch(request.symbol)
        order = state.orders[coid]
        if touch is None:
            return None
        size = touch.ask_size if request.side == "buy" else touch.bid_size
        qty = min(request.qty - order.filled_qty, max(size, 0))
        if qty <= 0:
            return None
        fill = simulate_fill(request.side, qty, request.order_type, request.limit_price,
                             touch.bid, touch.ask, self.slippage, self.commission,
                             touch.derived)
        if fill is None:
            return None
        filled = order.filled_qty + fill.qty
        avg = (order.filled_avg_price * order.filled_qty + fill.price * fill.qty) / filled
        self._book(request, fill.qty, fill.price, fill.commission)
        execution_id = f"{order.broker_order_id}.{resting.fills + 1}"
        state.executions.append(Execution(execution_id, coid, order.broker_order_id, request.symbol,
                                          request.side, fill.qty, fill.price, filled,
                                          fill.commission, at_us))
        done = filled >= request.qty
        if done:
            state.resting.pop(coid)
        else:
            state.resting[coid] = replace(resting, fills=resting.fills + 1)
        return self._change(replace(order, event=FILL if done else PARTIAL_FILL, filled_qty=filled,
                                    filled_avg_price=round(avg, 4), last_fill_qty=fill.qty,
                                    last_fill_price=fill.price,
                                    last_fill_commission=fill.commission, at_us=at_us,
                                    execution_id=execution_id))

    def _book(self, request: OrderRequest, qty: int, price: float, commission: float) -> None:
        state = self._state
        held = state.positions.get(request.symbol, BrokerPosition(request.symbol, 0, 0.0))
        if request.side == "buy":
            total = held.qty + qty
            avg = (held.avg_entry_price * held.qty + price * qty) / total
            state.positions[request.symbol] = BrokerPosition(request.symbol, total, avg)
            state.cash -= price * qty * MULTIPLIER + commission
        else:
            left = held.qty - qty
            state.positions[request.symbol] = BrokerPosition(
                request.symbol, left, held.avg_entry_price if left else 0.0)
            state.cash += price * qty * MULTIPLIER - commission

    def _change(self, update: OrderUpdate) -> OrderUpdate:
        self._state.orders[update.client_order_id] = update
        self._pending.append(update)
        return update

    def _commit(self) -> list[OrderUpdate]:
        """Save the state (with a journal), then publish the updates of the change.

        Raises
        ------
        BrokerError
            When the journal refused the state: the change is undone, nothing is published.
        """
        published, self._pending = self._pending, []
        if self._journal is not None:
            self._state.prune()
            saved = self._state.to_dict()
            try:
                self._journal.save(saved)
            except JournalError as exc:
                self._state = SimState.from_dict(self._saved or saved)
                raise BrokerError(f"simulated broker: change not saved, so undone: {exc}") from exc
            self._saved = saved
        for update in published:
            self._updates.put_nowait(update)
        return published
