"""What the agents need from whatever runs them: the live :class:`streams.pipeline.Pipeline`
(Faust on Kafka) and the backtest :class:`streams.simulation.Simulation` (an event-time
queue) both implement :class:`AgentHost`, so the type checker tells when one falls behind.
The agents import this protocol, never the pipeline: no import runs back up a floor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from stocktracker.connectors.broker import Broker, ChainSource, QuoteStream
from stocktracker.domain.control import ControlState
from stocktracker.domain.decision import TradingRules
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.order_record import OrderRecord
from stocktracker.domain.orders import Account
from stocktracker.schemas.codec import Codec
from stocktracker.sentiment.ensemble import Ensemble
from stocktracker.streams.core.settings import Settings

Handler = Callable[[dict[str, Any], int], Awaitable[None]]


class ControlHolder:
    """The last valid control state read from the control table, and the stored record it
    came from (:func:`agents.control.current_state` re-reads the table when it changes)."""

    def __init__(self) -> None:
        self.state = ControlState()
        self.record: dict[str, Any] | None = None


class Owner(Protocol):
    """Whether this process owns the trading account now."""

    def owns(self) -> bool:
        """True while it does."""
        ...


class AgentHost(Protocol):
    """The app, topics, tables, broker and shared objects the agents use.

    Shared state between agents lives in tables, or in one named object each:
    ``open_positions`` (book -> exits), ``open_entries`` (orders -> exits), ``chain_index``
    and ``quote_lookup`` (market -> execute, the simulated broker), ``order_meta`` (orders
    this process sent), ``account`` (the broker's figures for sizing), ``control`` (the
    last valid switches read from the control table), ``reconciled`` (set while orders may
    go out). The indexes are rebuilt from their tables at each term as the owner.
    """

    settings: Settings
    app: Any
    codec: Codec
    calendar: MarketCalendar
    ensemble: Ensemble
    topics: Any
    tables: Any
    agents: dict[str, Any]
    broker: Broker
    chain_source: ChainSource | None
    quote_stream: QuoteStream | None
    open_positions: Any
    open_entries: Any
    chain_index: Any
    quote_lookup: Any
    order_meta: dict[str, OrderRecord]
    account: Account
    trading_rules: TradingRules
    control: ControlHolder
    reconciled: asyncio.Event
    worker_id: str

    @property
    def ownership(self) -> Owner:
        """Whether this process owns the account now."""
        ...

    async def send(self, topic: Any, record_name: str, key: str,
                   record: dict[str, Any]) -> None:
        """Encode ``record`` and send it keyed by ``key`` at its event time."""
        ...

    async def dead_letter(self, event: Any, stage: str, reason: str) -> None:
        """Send an event's original bytes to ``deadletter`` with why it failed."""
        ...

    async def tables_ready(self, timeout_s: float = 15.0) -> bool:
        """Wait (bounded) until the tables hold what their changelogs say."""
        ...

    async def renew_broker(self) -> None:
        """A fresh broker client for a new term as the account's owner."""
        ...

    def add_stage(self, topic: Any, stage: str, record_name: str, handler: Handler) -> bool:
        """Take a stage's handler to run it (True: taken, as the simulation does), or leave
        it to :func:`agents.base.stage_agent` to register with Faust (False)."""
        ...
