"""A local stand-in for Alpaca's trading API, options market data and trade-updates stream.

It answers in Alpaca's own JSON shapes, so the real alpaca-py clients talk to it unchanged
(only their URL overrides differ): ``TradingClient(url_override=...)``,
``OptionHistoricalDataClient(url_override=...)``, ``StockHistoricalDataClient(...)`` and
``TradingStream(url_override=ws://.../stream)``. One port serves all of them:

- trading (``/v2``): ``GET /v2/account``, ``POST /v2/orders``, ``GET /v2/orders``,
  ``GET /v2/orders/{id}``, ``GET /v2/orders:by_client_order_id``,
  ``DELETE /v2/orders/{id}``, ``GET /v2/positions``, ``GET /v2/options/contracts``,
  ``GET /v2/clock``, ``GET /v2/account/activities/FILL`` (and ``/v2/account/activities``
  with ``activity_types``): the fills, one activity per execution, whose id ends with the
  ``execution_id`` its trade update carried;
- market data: ``GET /v1beta1/options/snapshots/{underlying}`` (the option chain) and
  ``GET /v2/stocks/quotes/latest``; history (bars, trades): :mod:`.alpaca_history`;
- ``/stream``: the trade-updates websocket (JSON messages, sent as binary frames like
  Alpaca's: ``authenticate``, then ``listen`` to ``trade_updates``), served by
  :class:`~connectors.simulated.alpaca_stream.TradeUpdatesStream`.
- ``/v1beta1/{feed}`` and ``/v2/{feed}``: the option and stock quote websockets (msgpack),
  served by :class:`~connectors.simulated.alpaca_marketdata.MarketDataStream` (``market_data``),
  which pushes every ``set_quote`` / ``set_stock_quote`` to the connections subscribed.

This module holds the server: its routes, the faults it injects and :func:`main`. State
lives in :class:`~connectors.simulated.alpaca_account.PaperAccount` (pure: no I/O, time
from a clock argument; orders fill there against the quotes :meth:`AlpacaServer.set_quote`
gives it).

Faults a test can inject (all thread-safe; see :class:`AlpacaServer`): ``fail_next`` (429,
5xx, before or after the order is accepted), ``accept_then_timeout``, ``reject_next``,
``drop_stream``, ``replay`` (an order's trade updates sent again, identical, as Alpaca does),
``garble_next`` (a trade update sent unreadable). Every request is kept in ``requests`` for
assertions.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

from stocktracker.connectors.simulated.alpaca_account import ApiRefusal, PaperAccount, Touch
from stocktracker.connectors.simulated.alpaca_history import MarketHistory
from stocktracker.connectors.simulated.alpaca_marketdata import MarketDataStream
from stocktracker.connectors.simulated.alpaca_stream import TradeUpdatesStream
from stocktracker.connectors.simulated.serving import HOST, LocalServer, in_thread, run_until_killed

ACTIVITY_TYPES = frozenset({
    "FILL", "TRANS", "MISC", "ACATC", "ACATS", "CFEE", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS",
    "DIVFEE", "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "FEE", "INT", "INTNRA", "INTTW",
    "JNL", "JNLC", "JNLS", "MA", "NC", "OPASN", "OPEXP", "OPXRC", "PTC", "PTR", "REORG", "SC",
    "SSO", "SSP"})
"""Alpaca's account activity types (only ``FILL`` has entries here)."""


def _error(status: int, message: str, code: int | None = None) -> web.Response:
    return web.json_response({"code": code or status * 100_000 + 10_000, "message": message},
                             status=status)


@dataclass
class Fault:
    """One injected failure: answer ``status`` to ``count`` requests matching ``match``."""

    match: str
    status: int
    count: int
    after_accept: bool = False


_KINDS = {
    "submit": ("POST", "/v2/orders"), "lookup": ("GET", "/v2/orders:by_client_order_id"),
    "cancel": ("DELETE", "/v2/orders/"), "orders": ("GET", "/v2/orders"),
    "account": ("GET", "/v2/account"), "positions": ("GET", "/v2/positions"),
    "contracts": ("GET", "/v2/options/contracts"), "snapshots": ("GET", "/v1beta1/options/snapshots"),
    "stocks": ("GET", "/v2/stocks"), "activities": ("GET", "/v2/account/activities"),
    "clock": ("GET", "/v2/clock"),
}


def _matches(match: str, method: str, path: str) -> bool:
    kind = _KINDS.get(match)
    if kind is None:
        return match in f"{method} {path}"
    if match == "submit":
        return method == "POST" and path == "/v2/orders"
    if match in ("orders", "account"):
        return method == "GET" and path == kind[1]
    return method == kind[0] and path.startswith(kind[1])


class AlpacaServer(LocalServer):
    """The HTTP and websocket front of a :class:`~connectors.simulated.alpaca_account.PaperAccount`
    on a loopback port.

    Use ``async with AlpacaServer() as server`` in a running loop, or
    :func:`serve_in_thread`. Every public method may be called from any thread.

    Parameters
    ----------
    api_key, secret_key:
        The credentials it accepts (``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` headers,
        the stream's ``authenticate`` message); anything else gets 401.
    cash:
        The paper account's starting cash.
    page_size:
        Most contracts or snapshots per page whatever the client asks (to test paging).
    route_delay_s:
        An order is answered ``accepted`` and routed (``pending_new``, ``new``, a fill when
        the touch allows) this long after, on the server's loop, as a real option order
        moves on after its answer.

    Attributes
    ----------
    account:
        The paper account it fronts.
    trade_updates:
        The ``/stream`` websocket, which sends the account's trade updates.
    """

    def __init__(self, api_key: str = "PKTESTKEY", secret_key: str = "test-secret",
                 cash: float = 100_000.0, port: int = 0, page_size: int = 10_000,
                 route_delay_s: float = 0.005) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.route_delay_s = route_delay_s
        self.port = port
        self.page_size = page_size
        self._lock = threading.RLock()
        self.trade_updates = TradeUpdatesStream(api_key, secret_key, self._lock)
        self.market_data = MarketDataStream(api_key, secret_key, self._lock)
        self.account = PaperAccount(cash=cash, on_event=self.trade_updates.broadcast)
        self.history = MarketHistory(self.account, self._lock, page_size)  # bars, trades
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.faults: list[Fault] = []
        self._timeouts: list[float] = []
        self._rejects: list[tuple[str, int, bool]] = []

    # ---- URLs: ``url`` (LocalServer's) serves the trading and data APIs -----------------------
    @property
    def stream_url(self) -> str:
        """The trade-updates websocket (``TradingStream(url_override=...)``)."""
        return f"ws://{HOST}:{self.port}/stream"

    @property
    def data_stream_url(self) -> str:
        """The market-data websockets' base (``ALPACA_DATA_STREAM_URL``)."""
        return f"ws://{HOST}:{self.port}"

    # ---- test controls ------------------------------------------------------------------------
    def set_quote(self, symbol: str, bid: float, ask: float, bid_size: int = 10,
                  ask_size: int = 10) -> None:
        """Quote an option (resting orders it crosses fill)."""
        with self._lock:
            self.account.set_quote(symbol, bid, ask, bid_size, ask_size)
            self.market_data.publish("options", symbol, bid, ask, bid_size, ask_size,
                                     self.account.quotes[symbol].at)

    def routed(self) -> bool:
        """Whether every order answered so far has been routed (none still ``accepted``)."""
        with self._lock:
            return all(o["status"] != "accepted" for o in self.account.orders.values())

    def close_day(self) -> int:
        """The close: open orders go ``done_for_day``, then ``expired``; how many ended."""
        with self._lock:
            return self.account.close_day()

    def set_greeks(self, symbol: str, iv: float | None = None, delta: float | None = None) -> None:
        """Greeks and IV the chain snapshot reports for ``symbol``."""
        with self._lock:
            extra: dict[str, float] = {}
            if iv is not None:
                extra["iv"] = iv
            if delta is not None:
                extra.update(delta=delta, gamma=0.05, rho=0.01, theta=-0.5, vega=0.02)
            self.account.greeks[symbol] = extra

    def set_stock_quote(self, symbol: str, bid: float, ask: float) -> None:
        """Quote an underlying (``/v2/stocks/quotes/latest``)."""
        with self._lock:
            touch = self.account.stock_quotes[symbol] = Touch(bid, ask, 1, 1, self.account.clock())
            self.market_data.publish("stocks", symbol, bid, ask, 1, 1, touch.at)

    def add_contract(self, symbol: str, open_interest: int | None = None,
                     penny: bool = True) -> None:
        """List an option contract (``penny``: in the penny program, ``ppind``)."""
        with self._lock:
            self.account.add_contract(symbol, open_interest, penny=penny)

    def fail_next(self, match: str, status: int = 500, count: int = 1,
                  after_accept: bool = False) -> None:
        """Answer ``status`` to the next ``count`` requests matching ``match``.

        ``match`` is a kind (``submit``, ``lookup``, ``cancel``, ``orders``, ``account``,
        ``positions``, ``contracts``, ``snapshots``, ``stocks``) or a part of
        ``"METHOD /path"``. With ``after_accept`` (submits only) the order is accepted
        first and the error answered after: the client cannot tell whether it went through.
        """
        with self._lock:
            self.faults.append(Fault(match, status, count, after_accept))

    def accept_then_timeout(self, delay_s: float = 30.0) -> None:
        """Accept the next order, then hold the answer ``delay_s`` (past the client's timeout)."""
        with self._lock:
            self._timeouts.append(delay_s)

    def reject_next(self, reason: str, status: int = 403, asynchronous: bool = False) -> None:
        """Refuse the next order with ``status`` and ``reason``; ``asynchronous``: accept it,
        then reject it on the stream (an exchange rejection)."""
        with self._lock:
            self._rejects.append((reason, status, asynchronous))

    def drop_stream(self, refuse: bool = False) -> None:
        """Close every trade-updates connection; with ``refuse``, refuse new ones until
        :meth:`allow_stream`."""
        self.trade_updates.drop(refuse)

    def allow_stream(self) -> None:
        """Accept trade-updates connections again."""
        self.trade_updates.allow()

    def replay(self, client_order_id: str) -> int:
        """Send every trade update of the order so far again, byte for byte (same
        ``execution_id``s), as Alpaca has been seen to; how many were sent."""
        with self._lock:
            sent = [e for e in self.account.events if e["order"]["client_order_id"] == client_order_id]
            self.trade_updates.resend(sent)
            return len(sent)

    def garble_next(self, how: str = "qty", event: str = "fill") -> None:
        """Send the next trade update of kind ``event`` unreadable instead (the account's
        state changes as usual), and keep the bytes sent in ``garbled``. ``how``: ``json``
        (cut short), ``order`` (not an order object), ``qty`` (not a number), ``filled_qty``
        (the order's, not a number: the SDK parses it, the adapter cannot convert it)."""
        self.trade_updates.garble_next(how, event)

    def order_count(self, symbol: str | None = None) -> int:
        """How many orders the account has (of ``symbol``)."""
        with self._lock:
            return sum(1 for o in self.account.orders.values() if symbol in (None, o["symbol"]))

    def count(self, method: str, path_part: str) -> int:
        """How many requests were ``method`` on a path containing ``path_part``."""
        with self._lock:
            return sum(1 for m, p, _ in self.requests if m == method and path_part in p)

    @property
    def subscribers(self) -> int:
        """Trade-updates connections listening now."""
        return self.trade_updates.subscribers

    @property
    def stream_connections(self) -> int:
        """Trade-updates connections accepted so far."""
        return self.trade_updates.connections

    @property
    def garbled(self) -> list[bytes]:
        """The bytes of every trade update sent unreadable (:meth:`garble_next`), in order."""
        return self.trade_updates.garbled

    # ---- life ---------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self.trade_updates.start(asyncio.get_running_loop())
        self.market_data.start(asyncio.get_running_loop())
        return await super().__aenter__()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/v2/account", self._get_account)
        r.add_get("/v2/account/activities", self._get_activities)
        r.add_get("/v2/account/activities/{activity_type}", self._get_activities)
        r.add_get("/v2/clock", self._get_clock)
        r.add_post("/v2/orders", self._post_order)
        r.add_get("/v2/orders", self._get_orders)
        r.add_get("/v2/orders:by_client_order_id", self._get_by_coid)
        r.add_get("/v2/orders/{order_id}", self._get_order)
        r.add_delete("/v2/orders/{order_id}", self._delete_order)
        r.add_get("/v2/positions", self._get_positions)
        r.add_get("/v2/options/contracts", self._get_contracts)
        r.add_get("/v1beta1/options/snapshots/{underlying}", self._get_snapshots)
        r.add_get("/v2/stocks/quotes/latest", self._get_stock_quotes)
        r.add_get("/stream", self.trade_updates.handle)
        self.market_data.add_routes(r)
        self.history.add_routes(r)
        return app

    async def __aexit__(self, *exc: object) -> None:
        await self.trade_updates.close()
        await self.market_data.close()
        await super().__aexit__(*exc)

    # ---- HTTP -----------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path == "/stream" or self.market_data.serves(request.path):
            return await handler(request)  # type: ignore[no-any-return]
        with self._lock:
            self.requests.append((request.method, request.path, dict(request.query)))
            if request.headers.get("APCA-API-KEY-ID") != self.api_key \
                    or request.headers.get("APCA-API-SECRET-KEY") != self.secret_key:
                return _error(401, "request is not authorized", 40110000)
            fault = self._take_fault(request.method, request.path, after_accept=False)
        if fault is not None:
            return _fault_answer(fault)
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except ApiRefusal as refusal:
            return _error(refusal.status, refusal.message, refusal.code)

    def _take_fault(self, method: str, path: str, after_accept: bool) -> Fault | None:
        for fault in self.faults:
            if fault.after_accept == after_accept and _matches(fault.match, method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _get_account(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.account_json())

    async def _get_activities(self, request: web.Request) -> web.Response:
        kind = request.match_info.get("activity_type")
        kinds = [kind] if kind else request.query.get("activity_types", "FILL").split(",")
        unknown = [k for k in kinds if k not in ACTIVITY_TYPES]
        if unknown:
            raise ApiRefusal(422, f"invalid activity type: {unknown[0]}", 40010001)
        with self._lock:
            page = self.account.fills_page(dict(request.query)) if "FILL" in kinds else []
        return web.json_response(page)

    async def _get_clock(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.clock_json())

    async def _post_order(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            reject = self._rejects.pop(0) if self._rejects else None
            if reject is not None and not reject[2]:
                raise ApiRefusal(reject[1], reject[0])
            order = self.account.submit(body)
            if reject is not None:
                self.account.reject(order["id"])
            late = self._take_fault("POST", "/v2/orders", after_accept=True)
            delay = self._timeouts.pop(0) if self._timeouts else None
        asyncio.get_running_loop().call_later(self.route_delay_s, self._route)
        if late is not None:
            return _fault_answer(late)
        if delay is not None:
            await asyncio.sleep(delay)
        return web.json_response(order)

    def _route(self) -> None:
        with self._lock:
            self.account.route()

    async def _get_orders(self, request: web.Request) -> web.Response:
        q = request.query
        with self._lock:
            return web.json_response(self.account.list_orders(q.get("status", "open"),
                                                              int(q.get("limit", 50))))

    async def _get_by_coid(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.order_by_coid(request.query.get("client_order_id", "")))

    async def _get_order(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.order(request.match_info["order_id"]))

    async def _delete_order(self, request: web.Request) -> web.Response:
        with self._lock:
            self.account.cancel(request.match_info["order_id"])
        return web.Response(status=204)

    async def _get_positions(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.positions_json())

    async def _get_contracts(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.contracts_page(dict(request.query), self.page_size))

    async def _get_snapshots(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.snapshots_page(
                request.match_info["underlying"], dict(request.query), self.page_size))

    async def _get_stock_quotes(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.latest_stock_quotes(request.query.get("symbols", "")))


def _fault_answer(fault: Fault) -> web.Response:
    if fault.status == 429:
        return _error(429, "rate limit exceeded", 42910000)
    return _error(fault.status, f"local fault {fault.status}")


def serve_in_thread(server: AlpacaServer | None = None) -> AbstractContextManager[AlpacaServer]:
    """Run a server on its own event loop in a daemon thread; stops on exit.

    Its controls (quotes, faults, ``drop_stream``) may be used from the caller's thread.
    """
    return in_thread(server or AlpacaServer(), "Alpaca server")


def main() -> None:
    """``python -m stocktracker.connectors.simulated.alpaca_server --port P``: serve until killed."""
    import argparse

    parser = argparse.ArgumentParser(description="Local Alpaca trading + options data stand-in.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="PKTESTKEY", help="API key id it accepts")
    parser.add_argument("--secret", default="test-secret", help="secret key it accepts")
    parser.add_argument("--cash", type=float, default=100_000.0)
    args = parser.parse_args()
    run_until_killed(AlpacaServer(args.key, args.secret, args.cash, args.port), lambda server: [
        f"ALPACA_TRADING_URL={server.url}", f"ALPACA_DATA_URL={server.url}",
        f"ALPACA_STREAM_URL={server.stream_url}", f"ALPACA_DATA_STREAM_URL={server.data_stream_url}"])


if __name__ == "__main__":
    main()
