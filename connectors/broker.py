"""The interface every broker adapter offers the trading agents (Alpaca, simulated)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any, Protocol

from stocktracker.domain.contracts import ChainQuote
from stocktracker.domain.fills import Touch
from stocktracker.domain.orders import (
    Account,
    BrokerPosition,
    Execution,
    MalformedUpdate,
    OrderRequest,
    OrderUpdate,
    StreamResumed,
)
from stocktracker.domain.streamed_quotes import StreamedQuote


class BrokerError(RuntimeError):
    """The broker could not be reached or refused in a way a retry will not fix."""


class MarketFeed(Protocol):
    """What a broker that fills from the worker's own quotes (the simulated one) takes from
    the pipeline. A venue with its own market (Alpaca) has none: see
    :meth:`Broker.market_feed`."""

    def advance(self, at_us: int) -> None:
        """The pipeline has read a record of event time ``at_us`` (the broker's clock)."""
        ...

    def on_quote(self, symbol: str, bid: float, ask: float, bid_size: int, ask_size: int,
                 at_us: int, penny: bool | None = None, derived: bool = False) -> list[OrderUpdate]:
        """A quote arrived (``penny``: its class is in the penny program, None: not said;
        ``derived``: its bid/ask are a spread model's, not the market's); fill what it can
        fill. Returns the updates it caused."""
        ...

    async def load(self) -> None:
        """Read the account's saved state now, without blocking the event loop."""
        ...

    def use_quotes(self, lookup: Callable[[str], Touch | None]) -> None:
        """Where to find a contract's quote not seen since start (the quote table)."""
        ...

    def settle(self, symbol: str, qty: int, price: float) -> None:
        """Expiry: ``qty`` contracts leave the account at ``price`` (intrinsic value)."""
        ...

    def drained(self) -> bool:
        """True when every update it made has been read from :meth:`Broker.updates`."""
        ...


class Broker(Protocol):
    """What the execute, exits and control agents need from a broker.

    Every method is safe to call again after a failure: ``submit`` with a
    ``client_order_id`` the broker already has returns that order's state and never sends a
    second order.
    """

    name: str

    async def submit(self, request: OrderRequest) -> OrderUpdate:
        """Send an order (or find the one with this client order id) and return its state.

        A rejection is an ``OrderUpdate`` with ``event == "rejected"`` and the reason;
        :class:`BrokerError` only when the broker cannot be reached after retries.
        """
        ...

    async def cancel(self, client_order_id: str) -> OrderUpdate | None:
        """Ask to cancel an open order; its state afterwards (None when unknown)."""
        ...

    async def order(self, client_order_id: str) -> OrderUpdate | None:
        """The order's current state, or None when the broker has never seen the id."""
        ...

    async def open_orders(self) -> list[OrderUpdate]:
        """Orders not yet done (for start-up reconciliation)."""
        ...

    async def positions(self) -> list[BrokerPosition]:
        """Open positions (for start-up reconciliation and flatten)."""
        ...

    async def account(self) -> Account:
        """Equity, buying power, cash."""
        ...

    async def executions(self, since_us: int) -> list[Execution]:
        """Every fill at or after ``since_us`` (the session's open), oldest first, each with
        the broker's execution id: what reconciliation applies when the book missed it."""
        ...

    async def clock_us(self) -> int:
        """The broker's own time now, µs (records made by reconciliation carry it, so
        they land on the broker's session day, not the machine's)."""
        ...

    def updates(self) -> AsyncIterator[OrderUpdate | MalformedUpdate | StreamResumed]:
        """Order life-cycle events as they happen (a stream, with polling after a drop); a
        message that cannot be read is a :class:`MalformedUpdate`, never silently dropped,
        and makes the adapter poll open orders at once; a :class:`StreamResumed` after the
        stream came back from a drop (the owner reconciles the gap)."""
        ...

    async def close(self) -> None:
        """Release connections and stop the update stream."""
        ...

    def market_feed(self) -> MarketFeed | None:
        """The hooks through which this broker sees the worker's quotes and stream time
        (it fills from them), or None when the venue has its own market data."""
        ...


class ChainSource(Protocol):
    """Market data for the chain cache (``connectors.alpaca.chain.AlpacaChain``)."""

    refresh_s: float  # how often the chain agent refreshes the cache

    async def underlying_quote(self, underlying: str) -> dict[str, Any]:
        """The underlying's latest quote as a ``Quote`` record."""
        ...

    async def fetch(self, underlying: str, expiry: date,
                    spot: float | None = None) -> list[ChainQuote]:
        """The contracts expiring on ``expiry`` with quotes, IV and delta."""
        ...

    async def nearest_expiry(self, underlying: str, day: date) -> date | None:
        """The first expiry on or after ``day``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class QuoteStream(Protocol):
    """Streamed option and stock quotes (``connectors.alpaca.quote_stream.AlpacaQuoteStream``):
    the contracts and underlyings asked for, pushed as they change."""

    sync_s: float  # how often the agent recomputes what to stream
    strikes: int  # strikes each side of the spot to stream

    async def want(self, options: set[str], stocks: set[str]) -> None:
        """Stream exactly these option contracts and stocks from now on (none: disconnect)."""
        ...

    def quotes(self) -> AsyncIterator[StreamedQuote]:
        """The quotes as they arrive, on the caller's event loop."""
        ...

    async def close(self) -> None:
        """Disconnect and stop."""
        ...
