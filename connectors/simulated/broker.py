"""Simulated broker: the :class:`~connectors.broker.Broker` interface, filled from quotes.

Used by the demo, the tests and backtests. Orders fill against the quotes it is given
(:meth:`SimulatedBroker.on_quote`, fed by the market agent), in event time:

- a market order crosses the spread and pays ``slippage`` per contract share;
- a limit order fills at the touch only when the touch is at or better than its limit;
- an order waits ``latency_us`` of event time before it can fill (0: the quote at hand);
- a quote shows ``ask_size``/``bid_size`` contracts: a larger order fills partially and
  the rest waits for the next quote (``partial_fill`` then ``fill``);
- commission per contract on every fill; a buy the cash cannot pay for is rejected.

Idempotent on ``client_order_id`` like a real broker: the same id never opens twice.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from domain.fills import simulate_fill
from domain.orders import (
    CANCELED,
    FILL,
    NEW,
    PARTIAL_FILL,
    REJECTED,
    Account,
    BrokerPosition,
    OrderRequest,
    OrderUpdate,
)
from domain.positions import MULTIPLIER


@dataclass(frozen=True, slots=True)
class Touch:
    """The last quote of one contract."""

    bid: float
    ask: float
    bid_size: int
    ask_size: int
    at_us: int


class SimulatedBroker:
    """In-process broker (see the module docstring).

    Parameters
    ----------
    slippage:
        $ per contract share added to a market buy (taken from a market sell).
    commission_per_contract:
        $ per contract per fill.
    cash:
        Starting cash (buying power: long options only, so cash).
    latency_us:
        Event time between an order and the first quote it may fill against.
    """

    name = "simulated"

    def __init__(self, slippage: float = 0.01, commission_per_contract: float = 0.65,
                 cash: float = 100_000.0, latency_us: int = 0) -> None:
        self.slippage = slippage
        self.commission = commission_per_contract
        self.cash = cash
        self.latency_us = latency_us
        self.quotes: dict[str, Touch] = {}
        # Where to look for a quote not seen since start (the worker's quote table).
        self.quote_source: Callable[[str], Touch | None] = lambda symbol: None
        self._orders: dict[str, OrderUpdate] = {}
        self._requests: dict[str, tuple[OrderRequest, int]] = {}
        self._positions: dict[str, BrokerPosition] = {}
        self._ids = itertools.count(1)
        self._updates: asyncio.Queue[OrderUpdate] = asyncio.Queue()
        self.clock_us = 0  # the stream's event time, as far as the pipeline has read

    def advance(self, at_us: int) -> None:
        """The pipeline has read a record of event time ``at_us``: orders sent from now on
        are stamped no earlier (their latency runs from the decision, not from the
        contract's last quote)."""
        self.clock_us = max(self.clock_us, at_us)

    # ---- market data ------------------------------------------------------------------------
    def on_quote(self, symbol: str, bid: float, ask: float, bid_size: int, ask_size: int,
                 at_us: int) -> list[OrderUpdate]:
        """Take a quote; fill what it can fill. Returns the updates it caused."""
        self.quotes[symbol] = Touch(bid, ask, bid_size, ask_size, at_us)
        events = []
        for coid, (request, since_us) in list(self._requests.items()):
            if request.symbol == symbol and at_us >= since_us + self.latency_us:
                event = self._try_fill(coid, at_us)
                if event is not None:
                    events.append(event)
        return events

    # ---- the Broker interface ---------------------------------------------------------------
    async def submit(self, request: OrderRequest, at_us: int | None = None) -> OrderUpdate:
        """Accept (or reject) an order and fill it against the quote at hand when it can.

        ``at_us`` is the event time of the order (default: the latest event time the
        pipeline has read, or the contract's last quote when later).
        """
        known = self._orders.get(request.client_order_id)
        if known is not None:
            return known
        touch = self._touch(request.symbol)
        now = at_us if at_us is not None else max(self.clock_us, touch.at_us if touch else 0)
        base = OrderUpdate(request.client_order_id, f"sim-{next(self._ids)}", request.symbol,
                           request.side, request.qty, NEW, at_us=now)
        reason = self._refusal(request, touch)
        if reason:
            return self._emit(replace(base, event=REJECTED, reason=reason))
        self._emit(base)
        self._requests[request.client_order_id] = (request, now)
        if touch is not None and self.latency_us == 0:
            self._try_fill(request.client_order_id, max(now, touch.at_us))
        return self._orders[request.client_order_id]

    async def cancel(self, client_order_id: str) -> OrderUpdate | None:
        """Cancel what has not filled yet."""
        state = self._orders.get(client_order_id)
        if state is None or state.done:
            return state
        self._requests.pop(client_order_id, None)
        return self._emit(replace(state, event=CANCELED, last_fill_qty=0, last_fill_price=0.0,
                                  last_fill_commission=0.0))

    async def order(self, client_order_id: str) -> OrderUpdate | None:
        """The order's state, or None."""
        return self._orders.get(client_order_id)

    async def open_orders(self) -> list[OrderUpdate]:
        """Orders not done."""
        return [o for o in self._orders.values() if not o.done]

    async def positions(self) -> list[BrokerPosition]:
        """Open positions."""
        return [p for p in self._positions.values() if p.qty]

    async def account(self) -> Account:
        """Cash is equity at cost here (marks are the book's job)."""
        held = sum(p.qty * p.avg_entry_price * MULTIPLIER for p in self._positions.values())
        return Account(equity=self.cash + held, buying_power=self.cash, cash=self.cash)

    async def updates(self) -> AsyncIterator[OrderUpdate]:
        """Every order event, in order."""
        while True:
            yield await self._updates.get()

    async def close(self) -> None:
        """Nothing to release."""

    def settle(self, symbol: str, qty: int, price: float) -> None:
        """Expiry: ``qty`` contracts of ``symbol`` leave the account at ``price`` (their
        intrinsic value), without an order and without commission."""
        held = self._positions.get(symbol)
        if held is None or held.qty < qty:
            raise ValueError(f"cannot settle {qty} {symbol}: holding {held.qty if held else 0}")
        left = held.qty - qty
        self._positions[symbol] = BrokerPosition(symbol, left, held.avg_entry_price if left else 0.0)
        self.cash += price * qty * MULTIPLIER

    def known(self, client_order_id: str) -> bool:
        """True if the broker has seen this client order id."""
        return client_order_id in self._orders

    # ---- internals --------------------------------------------------------------------------
    def _refusal(self, request: OrderRequest, touch: Touch | None) -> str:
        if request.side == "sell":
            held = self._positions.get(request.symbol)
            if held is None or held.qty < request.qty:
                return f"cannot sell {request.qty} {request.symbol}: holding {held.qty if held else 0}"
            return ""
        price = request.limit_price if request.order_type == "limit" else (touch.ask if touch else None)
        if price is None:
            return "no quote to price a market order"
        cost = price * request.qty * MULTIPLIER + self.commission * request.qty
        if cost > self.cash:
            return f"insufficient buying power: {cost:.2f} needed, {self.cash:.2f} available"
        return ""

    def _touch(self, symbol: str) -> Touch | None:
        touch = self.quotes.get(symbol)
        if touch is None:
            touch = self.quote_source(symbol)
            if touch is not None:
                self.quotes[symbol] = touch
        return touch

    def _try_fill(self, coid: str, at_us: int) -> OrderUpdate | None:
        request, _ = self._requests[coid]
        touch = self._touch(request.symbol)
        state = self._orders[coid]
        if touch is None:
            return None
        size = touch.ask_size if request.side == "buy" else touch.bid_size
        qty = min(request.qty - state.filled_qty, max(size, 0))
        if qty <= 0:
            return None
        fill = simulate_fill(request.side, qty, request.order_type, request.limit_price,
                             touch.bid, touch.ask, self.slippage, self.commission)
        if fill is None:
            return None
        filled = state.filled_qty + fill.qty
        avg = (state.filled_avg_price * state.filled_qty + fill.price * fill.qty) / filled
        self._book(request, fill.qty, fill.price, fill.commission)
        done = filled >= request.qty
        if done:
            self._requests.pop(coid)
        return self._emit(replace(state, event=FILL if done else PARTIAL_FILL, filled_qty=filled,
                                  filled_avg_price=round(avg, 4), last_fill_qty=fill.qty,
                                  last_fill_price=fill.price,
                                  last_fill_commission=fill.commission, at_us=at_us))

    def _book(self, request: OrderRequest, qty: int, price: float, commission: float) -> None:
        held = self._positions.get(request.symbol, BrokerPosition(request.symbol, 0, 0.0))
        if request.side == "buy":
            total = held.qty + qty
            avg = (held.avg_entry_price * held.qty + price * qty) / total
            self._positions[request.symbol] = BrokerPosition(request.symbol, total, avg)
            self.cash -= price * qty * MULTIPLIER + commission
        else:
            left = held.qty - qty
            self._positions[request.symbol] = BrokerPosition(
                request.symbol, left, held.avg_entry_price if left else 0.0)
            self.cash += price * qty * MULTIPLIER - commission

    def _emit(self, update: OrderUpdate) -> OrderUpdate:
        self._orders[update.client_order_id] = update
        self._updates.put_nowait(update)
        return update
