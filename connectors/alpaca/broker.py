"""Alpaca behind the :class:`~connectors.broker.Broker` interface, through alpaca-py.

REST calls go through the SDK's blocking ``TradingClient`` in :func:`asyncio.to_thread`.
Its HTTP session is replaced by one that waits for the shared :class:`RateLimiter` and
puts a timeout on every request (the SDK sets none), and the SDK's own 429 retry (3 s
sleeps, in the worker thread) is turned off so the retry policy here is the only one:
429, 5xx, timeouts and connection errors are retried with backoff up to ``max_retries``.

Submitting is idempotent on ``client_order_id``:

- before sending again after an ambiguous failure (a timeout, a 5xx, a dropped
  connection: the order may have gone through), the order is looked up by its client id;
  if Alpaca has it, that is the answer, and no second order is sent;
- a 422 ``client_order_id must be unique`` also resolves to the order Alpaca has;
- any other 4xx (403 insufficient buying power, 422 invalid order) is an update with event
  ``rejected`` and Alpaca's message as the reason; :class:`BrokerError` only when Alpaca
  cannot be reached after the retries (or refuses the keys).

Updates come from the trade-updates websocket (``TradingStream``, whose run loop is driven
as a task of ours). While it is down (and until it first connects) the orders not yet done
are polled every ``poll_interval_s``; on every (re)connection they are polled once more, to
catch what happened in the gap, and after a drop :meth:`AlpacaBroker.updates` yields a
:class:`StreamResumed` so the owner reconciles the gap's executions (a fill found by polling
has no execution id). Each state is reported once: a state is news only when it
is further along than the last one reported (more filled, or done), and
``(client_order_id, event, filled_qty)`` is never reported twice (see
:func:`connectors.alpaca.convert.progress`), so a fill Alpaca sends again (it does, with
the same ``execution_id``) is reported once. A fill reported from a trade update carries
Alpaca's ``execution_id``; one found by polling carries none.

No message is dropped silently: the SDK's own receive loop logs and forgets a frame it
cannot parse, so :class:`_Stream` reads the frames itself, and anything on the socket that
cannot be turned into an order update (not JSON, not a trade update, a field that does not
convert) comes out of :meth:`AlpacaBroker.updates` as a :class:`MalformedUpdate` with the
frame's bytes, and the orders not yet done are polled at once (it may have been a fill).

For reconciliation, :meth:`AlpacaBroker.executions` lists the fills of a period from the
account activities of type ``FILL`` (alpaca-py 0.44 has no method for them: the request goes
through the SDK client's own ``get``, so the same session, limiter and retries apply), and
:meth:`AlpacaBroker.clock_us` reads Alpaca's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import Clock, Order, Position, TradeAccount, TradeUpdate
from alpaca.trading.requests import GetOrdersRequest
from alpaca.trading.stream import TradingStream

from stocktracker.connectors.alpaca import convert
from stocktracker.connectors.alpaca.config import AlpacaSettings
from stocktracker.connectors.alpaca.limiter import RateLimiter, shared_limiter
from stocktracker.connectors.broker import BrokerError
from stocktracker.connectors.queued import SecretMask, backoff_delay
from stocktracker.domain.orders import (
    Account,
    BrokerPosition,
    Execution,
    MalformedUpdate,
    OrderRequest,
    OrderUpdate,
    StreamResumed,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

SDK_LOGGERS = ("alpaca.trading.stream", "alpaca.common.rest", "urllib3.connectionpool",
               "websockets.client", "websockets.protocol", "stocktracker.connectors.alpaca.broker",
               "stocktracker.connectors.alpaca.chain")
"""Loggers whose records have the keys masked while an adapter is open (the websocket
library logs frames, the authentication one included, at DEBUG)."""

_UNIQUE = "client_order_id must be unique"
ACTIVITIES_PAGE_MAX = 100
"""Most activities Alpaca returns in a page when no ``date`` is given."""


class AuthFrameMask(SecretMask):
    """:class:`SecretMask`, and the websocket library's log of the authentication frame
    replaced whole: it logs frames cut in the middle, which can leave a piece of the secret
    that no whole-secret match finds."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record's secrets; an outgoing ``authenticate`` frame entirely."""
        message = record.getMessage()
        if record.name.startswith("websockets") and "authenticate" in message \
                and message.lstrip().startswith(">"):
            record.msg, record.args = "> (authentication frame, masked)", ()
            return True
        return super().filter(record)


class MissingKeys(ValueError):
    """Alpaca was chosen but its keys are not set."""


def credentials(settings: AlpacaSettings) -> tuple[str, str]:
    """The API key id and secret, or :class:`MissingKeys` naming what is missing."""
    missing = [name for name, value in (("ALPACA_API_KEY", settings.api_key),
                                        ("ALPACA_SECRET_KEY", settings.secret_key))
               if value is None or not value.get_secret_value()]
    if missing:
        raise MissingKeys(f"{' and '.join(missing)} must be set to use Alpaca "
                          "(paper keys for paper trading)")
    assert settings.api_key is not None and settings.secret_key is not None
    return settings.api_key.get_secret_value(), settings.secret_key.get_secret_value()


class LimitedSession(requests.Session):
    """The SDK's HTTP session with a timeout on every request and the rate limiter before it."""

    def __init__(self, timeout_s: float, limiter: RateLimiter) -> None:
        super().__init__()
        self.timeout_s = timeout_s
        self.limiter = limiter

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Wait for the limiter, then send with the timeout unless one is given."""
        self.limiter.wait_blocking()
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)


def prepare(client: RESTClient, timeout_s: float, limiter: RateLimiter) -> None:
    """Give an SDK client our session and no retries of its own (ours apply)."""
    client._session.close()
    client._session = LimitedSession(timeout_s, limiter)
    client._retry = 0


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error (None for a transport failure)."""
    return exc.status_code if isinstance(exc, APIError) else None


def message_of(exc: BaseException) -> str:
    """Alpaca's error message (its JSON ``message``), else the error's text."""
    if isinstance(exc, APIError):
        try:
            return str(exc.message)
        except (ValueError, KeyError, TypeError):
            return str(exc)[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


def transient(exc: BaseException) -> bool:
    """Worth retrying: a transport failure, 429 or 5xx."""
    if isinstance(exc, requests.RequestException):
        return True
    status = status_of(exc)
    return isinstance(exc, APIError) and (status is None or status == 429 or status >= 500)


async def call(fn: Callable[..., T], *args: Any, retries: int, backoff_s: float,
               backoff_cap_s: float, what: str) -> T:
    """``fn(*args)`` in a worker thread, retried on :func:`transient` failures.

    Raises
    ------
    BrokerError
        After ``retries`` retries, or at once on 401 (the keys are refused).
    APIError
        Any other HTTP error (the caller decides: a 404 is often an answer).
    """
    for attempt in range(retries + 1):
        if attempt:
            await asyncio.sleep(backoff_delay(attempt - 1, backoff_s, backoff_cap_s))
        try:
            return await asyncio.to_thread(fn, *args)
        except (APIError, requests.RequestException) as exc:
            if status_of(exc) == 401:
                raise BrokerError(f"Alpaca refused the API keys ({what})") from exc
            if not transient(exc):
                raise
            log.warning("Alpaca %s failed (attempt %d of %d): %s", what, attempt + 1,
                        retries + 1, message_of(exc))
            last: BaseException = exc
    raise BrokerError(f"Alpaca {what} failed after {retries + 1} attempts: {message_of(last)}") \
        from last


class _Stream(TradingStream):
    """``TradingStream`` that says when its websocket comes up and goes down, and hands
    every frame over as received: a trade update, with its bytes, to the handler given to
    ``subscribe_trade_updates``; one that cannot be read to ``on_malformed``."""

    def __init__(self, api_key: str, secret_key: str, paper: bool, url: str | None,
                 reconnect_s: float, on_up: Callable[[], None],
                 on_down: Callable[[], None], on_malformed: Callable[[bytes, str], None]) -> None:
        super().__init__(api_key, secret_key, paper=paper, url_override=url)  # type: ignore[arg-type]
        self._reconnect_min_backoff = reconnect_s
        self._reconnect_max_backoff = min(30.0, reconnect_s * 30)
        self._on_up, self._on_down = on_up, on_down
        self._on_malformed = on_malformed

    async def _consume(self) -> None:
        """The SDK's receive loop (stop on request, 5 s receive timeouts), each frame to
        :meth:`_receive` instead of the SDK's parsing, which logs and drops what it cannot
        read."""
        while True:
            if not self._stop_stream_queue.empty():
                self._stop_stream_queue.get(timeout=1)
                await self.close()
                break
            ws: Any = self._ws
            try:
                frame = await asyncio.wait_for(ws.recv(), 5)
            except TimeoutError:
                continue
            await self._receive(frame.encode() if isinstance(frame, str) else bytes(frame))

    async def _receive(self, raw: bytes) -> None:
        """One frame: acknowledgements of other streams are ignored; a trade update goes to
        the handler with ``raw``; anything unreadable to ``on_malformed``."""
        try:
            message = json.loads(raw)
        except ValueError as exc:
            self._on_malformed(raw, f"not JSON: {exc}")
            return
        if not isinstance(message, dict):
            self._on_malformed(raw, "not a JSON object")
            return
        if message.get("stream") != "trade_updates":
            return
        self._data_received = True
        try:
            update = self._cast(message)
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            self._on_malformed(raw, f"not a trade update: {_short(exc)}")
            return
        handler: Any = self._trade_updates_handler
        await handler(update, raw)

    async def _start_ws(self) -> None:
        await super()._start_ws()
        self._on_up()

    async def close(self) -> None:
        """Close the websocket (the SDK calls this on every drop too)."""
        try:
            await super().close()
        finally:
            self._on_down()


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class AlpacaBroker:
    """The Broker interface on Alpaca (see the module docstring).

    Parameters
    ----------
    api_key, secret_key:
        Alpaca keys (paper keys unless ``paper`` is False). Never logged.
    paper:
        Paper endpoints unless False (and no URL override).
    trading_url, stream_url:
        Overrides of the trading API host and the trade-updates websocket (tests).
    limiter:
        Shared with every other Alpaca client of the same key.
    max_retries, timeout_s:
        Per REST call.
    poll_interval_s:
        Order polling while the stream is down.
    backoff_s, backoff_cap_s:
        Retry backoff (exponential with jitter).
    reconnect_s:
        The stream's first reconnection delay (it doubles up to 30 times this, 30 s at most).
    activities_page_size:
        Account activities asked for per page (Alpaca gives 100 at most).
    """

    name = "alpaca"

    def __init__(self, api_key: str, secret_key: str, *, paper: bool = True,
                 trading_url: str | None = None, stream_url: str | None = None,
                 limiter: RateLimiter | None = None, max_retries: int = 3, timeout_s: float = 5.0,
                 poll_interval_s: float = 2.0, backoff_s: float = 0.25, backoff_cap_s: float = 5.0,
                 reconnect_s: float = 1.0, activities_page_size: int = ACTIVITIES_PAGE_MAX) -> None:
        if not api_key or not secret_key:
            raise MissingKeys("an Alpaca API key and secret key are needed")
        self.paper = paper
        self.limiter = limiter or RateLimiter()
        self.max_retries = max_retries
        self.poll_interval_s = poll_interval_s
        self._backoff = (backoff_s, backoff_cap_s)
        self._trading = TradingClient(api_key, secret_key, paper=paper, url_override=trading_url)
        prepare(self._trading, timeout_s, self.limiter)
        self._stream = _Stream(api_key, secret_key, paper, stream_url, reconnect_s,
                               self._stream_up, self._stream_down, self._malformed)
        self.activities_page_size = max(1, min(activities_page_size, ACTIVITIES_PAGE_MAX))
        self._mask = AuthFrameMask(api_key, secret_key)
        for name in SDK_LOGGERS:
            logging.getLogger(name).addFilter(self._mask)
        self._known: dict[str, OrderUpdate] = {}
        self._seen: set[tuple[str, str, int]] = set()
        self._unsure: set[str] = set()  # submits that failed ambiguously: found by polling
        self._queue: asyncio.Queue[OrderUpdate | MalformedUpdate | StreamResumed | None] = \
            asyncio.Queue()
        self._client_ids: dict[str, str] = {}  # broker order id -> client order id
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._connected = False
        self._catch_up = False
        self._closed = False
        self.stream_drops = 0
        self._down_since: float | None = None  # monotonic time of the last drop
        self.polls = 0

    @classmethod
    def from_settings(cls, settings: AlpacaSettings, live: bool = False,
                      limiter: RateLimiter | None = None) -> AlpacaBroker:
        """The paper account unless ``live``; hosts from ``ALPACA_*_URL`` when set.

        Raises
        ------
        MissingKeys
            When ``ALPACA_API_KEY`` or ``ALPACA_SECRET_KEY`` is not set.
        """
        a = settings
        key, secret = credentials(a)
        return cls(key, secret, paper=not live, trading_url=a.trading_url, stream_url=a.stream_url,
                   limiter=limiter or shared_limiter(key, a.requests_per_minute),
                   max_retries=a.max_retries, timeout_s=a.timeout_s,
                   poll_interval_s=a.poll_interval_s)

    # ---- the Broker interface ---------------------------------------------------------------
    async def submit(self, request: OrderRequest) -> OrderUpdate:
        """Send the order, or find the one Alpaca has with its client order id (see the
        module docstring). A refusal is an update with event ``rejected``.

        Raises
        ------
        BrokerError
            Alpaca could not be reached after the retries, or refused the keys.
        """
        coid = request.client_order_id
        if coid in self._known:  # never sent twice; its freshest state if Alpaca answers
            try:
                return await self.order(coid) or self._known[coid]
            except BrokerError:
                return self._known[coid]
        payload = convert.order_request(request)
        ambiguous = False
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(backoff_delay(attempt - 1, *self._backoff))
            looking = ambiguous
            try:
                if ambiguous:
                    found = await self._find(coid)
                    if found is not None:
                        log.info("order %s was accepted before the failure; not sending it again", coid)
                        return self._observe(convert.order_state(found))
                    ambiguous = False
                looking = False
                sent = await asyncio.to_thread(self._trading.submit_order, payload)
                if not isinstance(sent, Order):
                    raise BrokerError("Alpaca answered the order with no order")
                return self._observe(convert.order_state(sent))
            except (APIError, requests.RequestException) as exc:
                last = exc
                status = status_of(exc)
                if status == 401:
                    raise BrokerError("Alpaca refused the API keys (submit)") from exc
                if not transient(exc):
                    if looking:
                        raise BrokerError(f"Alpaca order lookup failed: {message_of(exc)}") from exc
                    return await self._refused(request, exc)
                if status != 429 and not looking:
                    ambiguous = True
                    self._unsure.add(coid)
                log.warning("Alpaca submit %s failed (attempt %d of %d): %s", coid, attempt + 1,
                            self.max_retries + 1, message_of(exc))
        raise BrokerError(f"Alpaca submit {coid} failed after {self.max_retries + 1} attempts: "
                          f"{message_of(last) if last else ''}") from last

    async def cancel(self, client_order_id: str) -> OrderUpdate | None:
        """Ask Alpaca to cancel; the order's state afterwards (None when unknown)."""
        state = await self.order(client_order_id)
        if state is None or state.done or not state.broker_order_id:
            return state
        try:
            await self._call(self._trading.cancel_order_by_id, state.broker_order_id, what="cancel")
        except APIError as exc:  # 404/422: it is done or gone; its state says which
            log.info("cancel %s: %s", client_order_id, message_of(exc))
        return await self.order(client_order_id)

    async def order(self, client_order_id: str) -> OrderUpdate | None:
        """The order's current state from Alpaca (None when Alpaca has never seen the id,
        except one refused at submit: that refusal). An order not followed before is
        adopted (see :meth:`_observe`)."""
        try:
            found = await self._call(self._find, client_order_id, what="order lookup", sync=False)
        except APIError as exc:
            raise BrokerError(f"Alpaca order lookup failed: {message_of(exc)}") from exc
        if found is None:
            return self._known.get(client_order_id)
        return self._observe(convert.order_state(found), adopt=True)

    async def open_orders(self) -> list[OrderUpdate]:
        """Orders not yet done. Those not followed before are adopted (followed from now
        on, not reported on :meth:`updates`: the caller publishes them); news of those
        already followed is reported."""
        listed = await self._call(self._trading.get_orders,
                                  GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500),
                                  what="open orders")
        return [self._observe(convert.order_state(o), adopt=True) for o in listed
                if isinstance(o, Order)]

    async def positions(self) -> list[BrokerPosition]:
        """Open positions."""
        held = await self._call(self._trading.get_all_positions, what="positions")
        return [convert.position(p) for p in held if isinstance(p, Position)]

    async def account(self) -> Account:
        """Equity, (options) buying power, cash."""
        raw = await self._call(self._trading.get_account, what="account")
        if not isinstance(raw, TradeAccount):
            raise BrokerError("Alpaca answered the account request with no account")
        return convert.account(raw)

    async def executions(self, since_us: int) -> list[Execution]:
        """Every fill at or after ``since_us``, oldest first, from the ``FILL`` account
        activities (every page), each with our client order id (the order looked up once
        by its id when this adapter does not know it).

        Raises
        ------
        BrokerError
            Alpaca could not be reached after the retries, refused the request, or listed a
            fill that cannot be read.
        """
        found: list[Execution] = []
        for activity in await self._fill_activities(since_us):
            coid = await self._client_order_id(str(activity.get("order_id") or ""))
            try:
                found.append(convert.execution(activity, coid))
            except ValueError as exc:
                raise BrokerError(f"Alpaca listed a fill that cannot be read: {exc}") from exc
        kept = [e for e in found if e.at_us >= since_us]
        return sorted(kept, key=lambda e: (e.at_us, e.cum_qty))  # same-ms fills come unordered

    async def clock_us(self) -> int:
        """Alpaca's clock (``GET /v2/clock``), µs since the epoch."""
        clock = await self._call(self._trading.get_clock, what="clock")
        if not isinstance(clock, Clock):
            raise BrokerError("Alpaca answered the clock request with no clock")
        return convert.micros(clock.timestamp)

    async def updates(self) -> AsyncIterator[OrderUpdate | MalformedUpdate | StreamResumed]:
        """Every order event once, in the order seen, every trade-updates message that
        could not be read as a :class:`MalformedUpdate`, and a :class:`StreamResumed` each
        time the stream is back from a drop; starts the stream (and the polling) on the
        first call; ends after :meth:`close`."""
        self._start()
        while True:
            update = await self._queue.get()
            if update is None:
                self._queue.put_nowait(None)  # for any other reader
                return
            yield update

    async def close(self) -> None:
        """Stop the stream and the polling, end :meth:`updates`, release the sessions."""
        if self._closed:
            return
        self._closed = True
        await self._stream.stop_ws()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._stream.close()
        self._queue.put_nowait(None)
        self._trading._session.close()
        for name in SDK_LOGGERS:
            logging.getLogger(name).removeFilter(self._mask)

    def market_feed(self) -> None:
        """None: Alpaca fills against its own market, not the worker's quotes."""
        return None

    # ---- state --------------------------------------------------------------------------------

    def known(self, client_order_id: str) -> OrderUpdate | None:
        """The last state reported for an order (no request)."""
        return self._known.get(client_order_id)

    def _observe(self, state: OrderUpdate, adopt: bool = False) -> OrderUpdate:
        """Report what is news in ``state``; the order's latest known state.

        ``adopt``: a state read by a lookup or a listing. An order this adapter has not
        followed before (sent before a restart, or by hand) is then history, not news: it
        is followed from now on but not reported (reconciliation publishes open orders;
        reporting a fill from before the restart again would count it twice). Orders whose
        submit failed ambiguously in this run are news.
        """
        coid = state.client_order_id
        if adopt and coid not in self._known and coid not in self._unsure:
            self._known[coid] = state
            self._seen.add((coid, state.event, state.filled_qty))
            return state
        for update in convert.progress(state, self._known.get(coid)):
            key = (coid, update.event, update.filled_qty)
            if key not in self._seen:
                self._seen.add(key)
                self._queue.put_nowait(update)
            self._known[coid] = update
        self._unsure.discard(coid)
        return self._known.get(coid, state)

    async def _refused(self, request: OrderRequest, exc: BaseException) -> OrderUpdate:
        """A 4xx answer to a submit: the existing order for a duplicate id, else a rejection."""
        reason = message_of(exc)
        if _UNIQUE in reason:
            found = await self._call(self._find, request.client_order_id, what="order lookup",
                                     sync=False)
            if found is not None:
                return self._observe(convert.order_state(found), adopt=True)
        log.warning("Alpaca rejected order %s: %s", request.client_order_id, reason)
        return self._observe(convert.rejected(request, reason, time.time_ns() // 1000))

    async def _fill_activities(self, since_us: int) -> list[dict[str, Any]]:
        """Every ``FILL`` activity after a second before ``since_us`` (``after`` is compared
        in whole seconds), page after page."""
        after = datetime.fromtimestamp(max(since_us // 1_000_000 - 1, 0), UTC)
        params: dict[str, Any] = {"after": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                  "direction": "asc", "page_size": self.activities_page_size}
        listed: list[dict[str, Any]] = []
        while True:
            try:
                page = await self._call(self._trading.get, "/account/activities/FILL",
                                        dict(params), what="fill activities")
            except APIError as exc:
                raise BrokerError(f"Alpaca refused the fill activities: {message_of(exc)}") from exc
            if not isinstance(page, list) or not all(isinstance(a, dict) for a in page):
                raise BrokerError("Alpaca answered the fill activities with no list of activities")
            listed.extend(page)
            if len(page) < self.activities_page_size:
                return listed
            params["page_token"] = page[-1].get("id")

    async def _client_order_id(self, order_id: str) -> str:
        """Our id of the order Alpaca knows as ``order_id`` (looked up once; "" when Alpaca
        has no such order)."""
        if order_id not in self._client_ids:
            self._client_ids.update((u.broker_order_id, c) for c, u in self._known.items()
                                    if u.broker_order_id)
        if order_id in self._client_ids:
            return self._client_ids[order_id]
        try:
            order = await self._call(self._trading.get_order_by_id, order_id, what="order lookup")
        except APIError as exc:
            if exc.status_code != 404:
                raise BrokerError(f"Alpaca order lookup failed: {message_of(exc)}") from exc
            log.warning("a fill of order %s, which Alpaca does not know", order_id)
            return ""
        coid = order.client_order_id if isinstance(order, Order) else ""
        self._client_ids[order_id] = coid
        return coid

    async def _find(self, client_order_id: str) -> Order | None:
        """One lookup by client order id; None on 404."""
        try:
            found = await asyncio.to_thread(self._trading.get_order_by_client_id, client_order_id)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise
        return found if isinstance(found, Order) else None

    async def _call(self, fn: Callable[..., Any], *args: Any, what: str, sync: bool = True) -> Any:
        """``fn(*args)`` with the retry policy (``sync=False``: ``fn`` is a coroutine
        function, already off the loop)."""
        if sync:
            return await call(fn, *args, retries=self.max_retries, backoff_s=self._backoff[0],
                              backoff_cap_s=self._backoff[1], what=what)
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(backoff_delay(attempt - 1, *self._backoff))
            try:
                return await fn(*args)
            except (APIError, requests.RequestException) as exc:
                if status_of(exc) == 401:
                    raise BrokerError(f"Alpaca refused the API keys ({what})") from exc
                if not transient(exc):
                    raise
                last = exc
        raise BrokerError(f"Alpaca {what} failed after {self.max_retries + 1} attempts: "
                          f"{message_of(last) if last else ''}") from last

    # ---- stream and polling -------------------------------------------------------------------
    def _start(self) -> None:
        if self._tasks or self._closed:
            return
        self._stream.subscribe_trade_updates(self._on_trade)
        self._tasks = [asyncio.create_task(self._run_stream(), name="alpaca-trade-updates"),
                       asyncio.create_task(self._poll_loop(), name="alpaca-order-polling")]

    async def _run_stream(self) -> None:
        await self._stream._run_forever()

    async def _on_trade(self, update: TradeUpdate, raw: bytes = b"") -> None:
        try:
            state = convert.trade_state(update)
        except Exception as exc:  # whatever a field holds, the message must not vanish
            self._malformed(raw or update.model_dump_json().encode(), f"cannot convert: {_short(exc)}")
            return
        self._observe(state)

    def _malformed(self, raw: bytes, reason: str) -> None:
        """Report a message that could not be read, and poll the open orders at once."""
        log.warning("unreadable trade update (%s); polling open orders", reason)
        self._queue.put_nowait(MalformedUpdate(raw, reason))
        self._catch_up = True
        self._wake.set()

    def _stream_up(self) -> None:
        log.info("Alpaca trade updates connected")
        self._connected = True
        self._catch_up = True
        self._wake.set()
        if self._down_since is not None:  # back from a drop: the owner reconciles the gap
            down_s = time.monotonic() - self._down_since
            self._down_since = None
            self._queue.put_nowait(StreamResumed(round(down_s, 3)))

    def _stream_down(self) -> None:
        if self._connected and not self._closed:
            self.stream_drops += 1
            self._down_since = time.monotonic()
            log.warning("Alpaca trade updates dropped; polling open orders every %.1fs",
                        self.poll_interval_s)
        self._connected = False
        self._wake.set()

    async def _poll_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            self._wake.clear()
            if self._connected and not self._catch_up:
                continue
            self._catch_up = False
            try:
                await self._poll()
            except (BrokerError, APIError, requests.RequestException) as exc:
                log.warning("polling Alpaca orders failed: %s", message_of(exc))

    async def _poll(self) -> None:
        """Look at every order not yet done (and every unsure submit) once."""
        followed = [c for c, u in self._known.items() if not u.done]
        unsure = [c for c in self._unsure if c not in self._known]
        if not followed and not unsure:
            return
        self.polls += 1
        listed = await self._call(self._trading.get_orders,
                                  GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500),
                                  what="open orders")
        open_now = {o.client_order_id: o for o in listed if isinstance(o, Order)}
        for coid in followed + unsure:
            found = open_now.get(coid)
            if found is None:
                found = await self._call(self._find, coid, what="order lookup", sync=False)
            if found is not None:
                self._observe(convert.order_state(found))
            else:
                self._unsure.discard(coid)  # Alpaca never had it
