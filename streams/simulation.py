"""A deterministic event-time run of the pipeline's agents, in one process, for backtests.

The agents are the live ones (``agents/``): each registers its handler with
:func:`agents.base.stage_agent`, which hands it to :meth:`Simulation.add_stage` here
instead of to Faust. Records go through one queue ordered by event time (ties in the order
they were sent), are encoded and decoded with the live codec on every hop, and each is
handled by every stage reading its topic before the next record is taken. The tables are
in-memory with Faust's table semantics; windows are Faust's own window classes
(``relative_to_stream``: the current record's event time). The broker is the simulated one,
filling from the replayed quotes in event time; its updates are drained after every record.
Timers fire in event time. At each session's close, contracts expiring that day settle at
their intrinsic value.

Why not the Kafka worker: across topics, Faust's consumers interleave by wall-clock
arrival, so a replay through Kafka can see a chain from a moment later or earlier than
the post it trades on; the same replay twice would not give the same trades. Here it does,
and a day takes seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import faust

from stocktracker.agents.host import ControlHolder
from stocktracker.connectors.broker import Broker, ChainSource, QuoteStream
from stocktracker.connectors.replay.source import MalformedPost, ReplayItem, post_record
from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.domain.decision import rules_from
from stocktracker.domain.market_hours import MarketCalendar, Session
from stocktracker.domain.order_record import OrderRecord
from stocktracker.domain.orders import Account, parse_occ
from stocktracker.domain.settlement import settle_expiring
from stocktracker.schemas.codec import Codec, SingleObjectCodec
from stocktracker.sentiment.ensemble import Ensemble, ensemble_from_settings
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.topics import RECORDS
from stocktracker.streams.core.trace import now_us

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any], int], Awaitable[None]]
_MISSING = object()


class SimTopic:
    """A topic of the simulation (its name is the short one: ``posts``, ``quotes``...)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        """The topic's name."""
        return self.name


class SimTable:
    """A table as the agents use Faust's: ``t[k]`` gives ``default()`` for a missing key
    (not stored), ``t.get(k)`` gives None, plus ``items``/``values``/``keys``."""

    def __init__(self, default: Callable[[], Any] | None = dict) -> None:
        self.default = default
        self.data: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            if self.default is None:
                raise KeyError(key)
            return self.default()
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.data[key] = value

    def __contains__(self, key: Any) -> bool:
        return key in self.data

    def get(self, key: Any, default: Any = None) -> Any:
        """The value, or ``default``."""
        return self.data.get(key, default)

    def items(self) -> Iterable[tuple[Any, Any]]:
        """Key-value pairs."""
        return self.data.items()

    def values(self) -> Iterable[Any]:
        """Values."""
        return self.data.values()

    def keys(self) -> Iterable[Any]:
        """Keys."""
        return self.data.keys()


class _Clock:
    """The current record's event time in seconds (Faust's ``relative_to_stream``)."""

    ts: float = 0.0


class SimWindowed:
    """A windowed table: ``w[key]`` is a window set over Faust's own window ranges."""

    def __init__(self, window: Any, clock: _Clock) -> None:
        self.table = SimTable(dict)
        self.table.window = window  # type: ignore[attr-defined]  # read by the aggregate agent
        self._clock = clock

    def __getitem__(self, key: Any) -> _WindowSet:
        return _WindowSet(self, key)


@dataclass
class _WindowSet:
    wrapper: SimWindowed
    key: Any

    def _window(self) -> Any:
        return self.wrapper.table.window  # type: ignore[attr-defined]

    def apply(self, op: Callable[[Any, Any], Any], value: Any) -> _WindowSet:
        table = self.wrapper.table
        for window_range in self._window().ranges(self.wrapper._clock.ts):
            table[self.key, window_range] = op(table[self.key, window_range], value)
        return self

    def __getitem__(self, window_range: Any) -> Any:
        return self.wrapper.table[self.key, window_range]

    def current(self) -> Any:
        return self.wrapper.table[self.key, self._window().current(self.wrapper._clock.ts)]

    def delta(self, d: float) -> Any:
        return self.wrapper.table[self.key, self._window().delta(self.wrapper._clock.ts, d)]


@dataclass(frozen=True)
class SimTables:
    """The pipeline's tables (the same names as :class:`tables.definitions.Tables`)."""

    hopping: SimWindowed
    tumbling: SimWindowed
    signal_state: SimTable
    quotes: SimTable
    positions: SimTable
    risk_state: SimTable
    orders: SimTable
    control: SimTable
    volatility: SimTable

    @classmethod
    def create(cls, settings: Settings, clock: _Clock) -> SimTables:
        """Windows from settings, as :meth:`tables.definitions.Tables.create` makes them."""
        sig = settings.signal
        keep = max(sig.window_s, sig.tumbling_s) * 4
        return cls(
            hopping=SimWindowed(faust.HoppingWindow(sig.window_s, sig.step_s, expires=keep), clock),
            tumbling=SimWindowed(faust.TumblingWindow(sig.tumbling_s, expires=keep), clock),
            signal_state=SimTable(), quotes=SimTable(None), positions=SimTable(),
            risk_state=SimTable(), orders=SimTable(None), control=SimTable(None),
            volatility=SimTable(None))


class SimApp:
    """What agents ask of ``p.app``: timers (in event time) and tasks."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Callable[[], Awaitable[None]]]] = []
        self.tasks: list[Callable[[], Awaitable[None]]] = []

    def timer(self, interval: float) -> Callable[[Callable[[], Awaitable[None]]],
                                                 Callable[[], Awaitable[None]]]:
        """Register ``fn`` to run every ``interval`` seconds of event time."""
        def register(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
            self.timers.append((interval, fn))
            return fn
        return register

    def task(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Register ``fn`` to run for the whole simulation."""
        self.tasks.append(fn)
        return fn


@dataclass
class Outcome:
    """What a simulation produced: every record per topic, in the order sent, and the
    records that failed a stage (with the stage and the reason)."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)
    failures: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    handled: int = 0


class Simulation:
    """The pipeline's agents on an event-time queue (see the module docstring).

    Parameters
    ----------
    settings:
        As for the live worker (trading through the simulated broker).
    broker:
        Default: a :class:`SimulatedBroker` from ``TRADING_SLIPPAGE``/``TRADING_COMMISSION``.
    ensemble:
        Default: every local model of the settings, FinBERT's deadline judged on its modelled
        latency in event time (:func:`sentiment.ensemble.ensemble_from_settings`).
    rescore:
        Score posts with the ensemble (True) or take recorded scores as they come (False:
        the score agent is not run and posts are only kept).
    keep:
        Topics whose records are kept in :attr:`Outcome.records`.
    """

    def __init__(self, settings: Settings, *, broker: Broker | None = None,
                 codec: Codec | None = None, calendar: MarketCalendar | None = None,
                 ensemble: Ensemble | None = None, rescore: bool = True,
                 keep: Iterable[str] = ("sentiment", "signals", "orders", "fills", "positions",
                                        "quotes", "deadletter")) -> None:
        self.settings = settings
        self.app = SimApp()
        self.codec = codec or SingleObjectCodec()
        self.calendar = calendar or MarketCalendar(settings.risk.exchange)
        self.rescore = rescore
        self.ensemble = ensemble or ensemble_from_settings(settings.sentiment, backtest=True)
        self.clock = _Clock()
        self.topics = _Topics()
        self.tables = SimTables.create(settings, self.clock)
        self.agents: dict[str, Any] = {}
        self.open_positions: Any = None  # set by agents.book
        self.open_entries: Any = None  # set by agents.orders
        self.chain_index: Any = None
        self.broker: Broker = broker or SimulatedBroker(
            settings.trading.slippage, settings.trading.commission,
            latency_us=settings.trading.sim_latency_us(backtest=True))
        self.chain_source: ChainSource | None = None
        self.quote_stream: QuoteStream | None = None
        self.quote_lookup: Any = None
        self.worker_id = "simulation"
        self.ownership = _AlwaysOwner()
        self.reconciled = asyncio.Event()
        self.order_meta: dict[str, OrderRecord] = {}
        self.account = Account(equity=0.0, buying_power=0.0, cash=0.0)
        self.trading_rules = rules_from(settings)
        self.control = ControlHolder()
        self.outcome = Outcome(records={t: [] for t in keep}, keys={t: [] for t in keep})
        self._handlers: dict[str, list[tuple[str, str, Handler]]] = {}
        self._queue: list[tuple[int, int, str, str, bytes]] = []
        self._seq = itertools.count()
        self._now_us = 0
        self._due: list[float] = []
        self._closes = _Closes(self.calendar)
        from stocktracker.agents import register_all

        register_all(self)

    # ---- what the agents call -------------------------------------------------------------
    def add_stage(self, topic: SimTopic, stage: str, record_name: str, handler: Handler) -> bool:
        """Take a stage's handler (from :func:`agents.base.stage_agent`)."""
        if stage == "score" and not self.rescore:
            return True
        self._handlers.setdefault(topic.name, []).append((stage, record_name, handler))
        self.agents[stage] = handler
        return True

    async def dead_letter(self, event: Any, stage: str, reason: str) -> None:
        """Only the Faust path dead-letters events; here a failing record is kept in the
        outcome's failures (:meth:`_dispatch`)."""
        self.outcome.failures.append((stage, reason, {}))

    async def tables_ready(self, timeout_s: float = 0.0) -> bool:
        """In memory: always."""
        return True

    async def renew_broker(self) -> None:
        """One broker for the whole run."""

    async def send(self, topic: SimTopic, record_name: str, key: str,
                   record: dict[str, Any]) -> None:
        """Encode the record (as the live path does) and queue it at its event time."""
        value = self.codec.encode(record_name, record, topic.name)
        if topic.name in self.outcome.records:
            self.outcome.records[topic.name].append(self.codec.decode(record_name, value))
            self.outcome.keys[topic.name].append(key)
        if topic.name in self._handlers:
            event = max(int(record["event_time"]), self._now_us)  # never into the past
            heapq.heappush(self._queue, (event, next(self._seq), topic.name, key, value))

    # ---- driving it ---------------------------------------------------------------------------
    async def run(self, items: Iterable[ReplayItem]) -> Outcome:
        """Replay ``items`` (time-ordered) through the agents, then drain what they caused."""
        tasks = [asyncio.ensure_future(fn()) for fn in self.app.tasks]
        self._due = [0.0] * len(self.app.timers)
        await self._settle()
        if not self.reconciled.is_set():  # the owner's term runs first; nothing waits on it
            for task in tasks:
                task.cancel()
            raise RuntimeError("the simulation's account did not reconcile before the replay")
        try:
            for item in items:
                await self._until(item.event_us)
                record = self._record(item)
                if record is None:
                    continue
                await self.send(getattr(self.topics, item.topic), item.record_name, item.key,
                                record)
            await self._until(None)
            session = self.calendar.session_at(self._now_us)
            if session is not None:  # the replay ended before the close: expiries still settle
                await self._until(session.close_us)
                await self._until(None)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.outcome

    def _record(self, item: ReplayItem) -> dict[str, Any] | None:
        """The record to send for a replayed item (a generated post becomes a ``Post``);
        None, with the failure kept, for what cannot be replayed."""
        if item.record_name == "_undecodable":
            self.outcome.failures.append(("replay", str(item.record.get("_reason", "")),
                                          {"topic": item.topic, "key": item.key}))
            return None
        if item.topic == "posts" and "event_time" not in item.record:
            try:
                return post_record(item.record, now_us())  # traces time the processing
            except MalformedPost as exc:
                self.outcome.failures.append(("replay", str(exc), dict(item.record)))
                return None
        return item.record

    async def _until(self, limit_us: int | None) -> None:
        """Handle every queued record up to ``limit_us`` (all when None), firing timers and
        settling expiries on the way."""
        while self._queue and (limit_us is None or self._queue[0][0] <= limit_us):
            for close_us, day in self._closes.passed(self._now_us, self._queue[0][0]):
                await self._settle_expiring(close_us, day)
            event_us, _, topic, _key, value = heapq.heappop(self._queue)
            await self._fire_timers(event_us)
            self._now_us = max(self._now_us, event_us)
            self.clock.ts = event_us / 1e6
            await self._dispatch(topic, value)
            await self._settle()
        if limit_us is not None:
            for close_us, day in self._closes.passed(self._now_us, limit_us):
                await self._settle_expiring(close_us, day)
            self._now_us = max(self._now_us, limit_us)

    async def _dispatch(self, topic: str, value: bytes) -> None:
        for stage, record_name, handler in self._handlers.get(topic, ()):
            record = self.codec.decode(record_name, value)
            self.outcome.handled += 1
            try:
                await handler(record, now_us())
            except Exception as exc:  # a failing record is kept with why; the run goes on
                log.warning("%s failed in the simulation: %s", stage, exc)
                self.outcome.failures.append((stage, f"{type(exc).__name__}: {exc}", record))

    async def _fire_timers(self, event_us: int) -> None:
        """Fire the timers due by ``event_us``, at ``event_us``: the broker's clock is moved
        there first, so a clock tick is stamped with the time it fires at, not with the last
        record's (on minute bars that lagged the quotes by up to a minute)."""
        due = self._due
        if any(d and event_us / 1e6 >= d for d in due):
            feed = self.broker.market_feed()
            if feed is not None:
                feed.advance(event_us)
        for n, (interval, fn) in enumerate(self.app.timers):
            if due[n] == 0.0:
                due[n] = event_us / 1e6 + interval
            elif event_us / 1e6 >= due[n]:
                due[n] = event_us / 1e6 + interval
                await fn()

    async def _settle(self) -> None:
        """Let the tasks (the broker's update pump) run until they wait for input."""
        for _ in range(4):
            await asyncio.sleep(0)
        feed = self.broker.market_feed()
        for _ in range(10_000):
            if feed is None or feed.drained():
                return
            await asyncio.sleep(0)
        raise RuntimeError("the broker's updates are not being read (the orders task stopped)")

    async def _settle_expiring(self, close_us: int, day: date) -> None:
        """Contracts expiring ``day`` settle at intrinsic value at the close."""
        self._now_us = close_us
        self.clock.ts = close_us / 1e6
        held = {s: p for s, p in self.tables.positions.items()
                if p.get("qty") and parse_occ(s).expiry == day.isoformat()}
        if not held:
            return
        last = {u: (q["bid"] + q["ask"]) / 2 for u in {parse_occ(s).underlying for s in held}
                if (q := self.tables.quotes.get(u))}
        for fill in settle_expiring(held, last, day, close_us):
            feed = self.broker.market_feed()
            if feed is not None:
                feed.settle(fill["symbol"], fill["qty"], fill["price"])
            await self.send(self.topics.fills, "Fill", fill["underlying"], fill)


class _AlwaysOwner:
    """A simulation owns its account from start to end."""

    def owns(self) -> bool:
        return True


class _Topics:
    """One :class:`SimTopic` per topic name, as attributes (``p.topics.quotes``)."""

    def __init__(self) -> None:
        for name in RECORDS:
            setattr(self, name, SimTopic(name))

    def __getattr__(self, name: str) -> SimTopic:  # for mypy: attributes are set above
        raise AttributeError(name)


class _Closes:
    """The session closes between two event times (each once)."""

    def __init__(self, calendar: MarketCalendar | None) -> None:
        self.calendar = calendar
        self.done: set[date] = set()

    def passed(self, after_us: int, upto_us: int) -> Iterator[tuple[int, date]]:
        if self.calendar is None or after_us <= 0 or upto_us <= after_us:
            return
        session = self.calendar.session_at(after_us) or _last_session(self.calendar, after_us)
        if session is not None and after_us < session.close_us <= upto_us \
                and session.day not in self.done:
            self.done.add(session.day)
            yield session.close_us, session.day


def _last_session(calendar: MarketCalendar, at_us: int) -> Session | None:
    from datetime import UTC, datetime

    day = datetime.fromtimestamp(at_us / 1e6, UTC).date()
    session = calendar.session_on(day)
    return session if session is not None and session.close_us > at_us else None
