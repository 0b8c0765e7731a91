"""The market-data websockets of the local Alpaca server: option and stock quotes.

Alpaca's real-time data streams, in their own message shapes, so that alpaca-py's
``OptionDataStream`` and ``StockDataStream`` talk to it unchanged (``url_override``):

- paths: ``/v1beta1/{indicative|opra}`` (options: msgpack only, as Alpaca's) and
  ``/v2/{iex|sip|delayed_sip|test}`` (stocks: msgpack when the client's ``Content-Type``
  asks for it, as alpaca-py's does, else JSON text);
- every message is a list of objects with a type ``T``: ``[{"T":"success","msg":"connected"}]``
  on connecting; ``{"action":"auth","key":..,"secret":..}`` answered ``authenticated`` or
  the error 402; ``subscribe``/``unsubscribe`` of ``quotes`` (and ``trades``) answered
  with the ``subscription`` message listing everything subscribed now; quotes
  ``{"T":"q","S":..,"bp","bs","ap","as","bx","ax","c","t"}`` with ``t`` a msgpack
  timestamp (stocks also carry the tape ``z`` and a list of conditions);
- errors as Alpaca sends them: 401 not authenticated, 402 auth failed, 406 connection
  limit exceeded (one connection per endpoint, like most subscriptions), 412 option
  messages only in msgpack.

:class:`MarketDataStream` pushes a quote to every connection subscribed to its symbol
whenever the server's touch changes (``AlpacaServer.set_quote`` / ``set_stock_quote``),
and holds the faults: every connection dropped, and new ones refused (406) until allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

OPTION_FEEDS = ("indicative", "opra")
STOCK_FEEDS = ("iex", "sip", "delayed_sip", "test")
CHANNELS = ("trades", "quotes")
_STOCK_CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds",
                   "corrections", "cancelErrors")


@dataclass
class _Client:
    """One connection: its kind, encoding, subscriptions and outgoing queue."""

    kind: str  # "options" | "stocks"
    packed: bool
    queue: asyncio.Queue[list[dict[str, Any]]] = field(default_factory=asyncio.Queue)
    subscribed: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})


class MarketDataStream:
    """The option and stock quote websockets: connections, subscriptions, pushes, faults.

    Its route handlers run on the server's loop (:meth:`start`); the other methods may be
    called from any thread.

    Parameters
    ----------
    api_key, secret_key:
        The credentials the ``auth`` message must carry.
    lock:
        The server's lock (faults and subscriptions are read and changed under it).
    connection_limit:
        Open connections allowed per endpoint kind (options, stocks); one more gets 406.

    Attributes
    ----------
    connections:
        Connections accepted so far, per kind (``options``, ``stocks``).
    """

    def __init__(self, api_key: str, secret_key: str, lock: threading.RLock,
                 connection_limit: int = 1) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.connection_limit = connection_limit
        self.connections = {"options": 0, "stocks": 0}
        self._lock = lock
        self._refuse = False
        self._clients: dict[web.WebSocketResponse, _Client] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Serve every feed's path on ``router``."""
        for feed in OPTION_FEEDS:
            router.add_get(f"/v1beta1/{feed}", self.handle)
        for feed in STOCK_FEEDS:
            router.add_get(f"/v2/{feed}", self.handle)

    @staticmethod
    def serves(path: str) -> bool:
        """Whether ``path`` is one of these websockets (they authenticate by message)."""
        return path in {f"/v1beta1/{f}" for f in OPTION_FEEDS} | {f"/v2/{f}" for f in STOCK_FEEDS}

    # ---- life ---------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve from ``loop`` (the server's): quotes are queued to clients on it."""
        self._loop = loop

    async def close(self) -> None:
        """Close every connection (the server is stopping)."""
        for ws in list(self._clients):
            with contextlib.suppress(Exception):
                await ws.close()

    # ---- state and faults ---------------------------------------------------------------------
    def subscribed(self, kind: str, channel: str = "quotes") -> set[str]:
        """Symbols some open connection of ``kind`` is subscribed to on ``channel`` now."""
        with self._lock:
            return {s for c in self._clients.values() if c.kind == kind for s in c.subscribed[channel]}

    def open_connections(self, kind: str) -> int:
        """Authenticated connections of ``kind`` open now."""
        with self._lock:
            return sum(1 for c in self._clients.values() if c.kind == kind)

    def drop(self, refuse: bool = False) -> None:
        """Close every connection; with ``refuse``, answer new ones 406 until :meth:`allow`."""
        with self._lock:
            self._refuse = refuse
            sockets = list(self._clients)
            self._clients.clear()
        if self._loop is not None:
            for ws in sockets:
                asyncio.run_coroutine_threadsafe(ws.close(), self._loop)

    def allow(self) -> None:
        """Accept connections again."""
        with self._lock:
            self._refuse = False

    def publish(self, kind: str, symbol: str, bid: float, ask: float, bid_size: int,
                ask_size: int, at: datetime) -> None:
        """Called under the server's lock when a touch changes: queue the quote for every
        connection of ``kind`` subscribed to ``symbol``."""
        if self._loop is None:
            return
        message = quote_message(kind, symbol, bid, ask, bid_size, ask_size, at)
        for client in self._clients.values():
            if client.kind == kind and symbol in client.subscribed["quotes"]:
                self._loop.call_soon_threadsafe(client.queue.put_nowait, [message])

    # ---- websocket ----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """A feed's route: connected, auth, subscriptions, then quotes until closed."""
        kind = "options" if request.path.startswith("/v1beta1/") else "stocks"
        packed = "msgpack" in request.headers.get("Content-Type", "")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        client = _Client(kind, packed)
        send = _sender(ws, packed)
        if kind == "options" and not packed:  # said in JSON: the client asked for no msgpack
            await send([_error(412, "option messages are only available in MsgPack format")])
            await ws.close()
            return ws
        await send([{"T": "success", "msg": "connected"}])
        writer: asyncio.Task[None] | None = None
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                action = _decode(msg.data)
                if action is None:
                    await send([_error(400, "invalid syntax")])
                    continue
                verb = action.get("action")
                if verb == "auth":
                    refusal = self._admit(ws, client, action)
                    if refusal is not None:
                        await send([refusal])
                        break
                    await send([{"T": "success", "msg": "authenticated"}])
                    writer = asyncio.create_task(_pump(client, send))
                elif verb in ("subscribe", "unsubscribe"):
                    if writer is None:
                        await send([_error(401, "not authenticated")])
                        continue
                    await send([self._subscribe(client, verb, action)])
                else:
                    await send([_error(400, "invalid syntax")])
        finally:
            with self._lock:
                self._clients.pop(ws, None)
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            await ws.close()
        return ws

    def _admit(self, ws: web.WebSocketResponse, client: _Client,
               action: dict[str, Any]) -> dict[str, Any] | None:
        """Check the keys and the connection limit; None when admitted (then counted)."""
        if action.get("key") != self.api_key or action.get("secret") != self.secret_key:
            return _error(402, "auth failed")
        with self._lock:
            if self._refuse or self.open_connections(client.kind) >= self.connection_limit:
                return _error(406, "connection limit exceeded")
            self._clients[ws] = client
            self.connections[client.kind] += 1
        return None

    def _subscribe(self, client: _Client, verb: str, action: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for channel in CHANNELS:
                symbols = {str(s) for s in action.get(channel) or ()}
                if verb == "subscribe":
                    client.subscribed[channel] |= symbols
                else:
                    client.subscribed[channel] -= symbols
            listed = {c: sorted(client.subscribed[c]) for c in CHANNELS}
        if client.kind == "stocks":
            return {"T": "subscription", **{c: listed.get(c, []) for c in _STOCK_CHANNELS}}
        return {"T": "subscription", **listed}


def quote_message(kind: str, symbol: str, bid: float, ask: float, bid_size: int, ask_size: int,
                  at: datetime) -> dict[str, Any]:
    """A quote in Alpaca's stream shape (``t`` a msgpack timestamp; JSON writes it as text)."""
    message: dict[str, Any] = {"T": "q", "S": symbol, "bx": "C" if kind == "options" else "V",
                               "bp": bid, "bs": bid_size, "ax": "C" if kind == "options" else "V",
                               "ap": ask, "as": ask_size, "t": msgpack.Timestamp.from_datetime(at)}
    if kind == "options":
        message["c"] = "A"
    else:
        message.update(c=["R"], z="B")
    return message


def _error(code: int, text: str) -> dict[str, Any]:
    return {"T": "error", "code": code, "msg": text}


def _decode(data: str | bytes) -> dict[str, Any] | None:
    try:
        value = msgpack.unpackb(data) if isinstance(data, bytes) else json.loads(data)
    except (ValueError, msgpack.UnpackException):
        return None
    return value if isinstance(value, dict) else None


def _sender(ws: web.WebSocketResponse, packed: bool) -> Any:
    async def send(messages: list[dict[str, Any]]) -> None:
        if packed:
            await ws.send_bytes(msgpack.packb(messages, datetime=False))
        else:
            await ws.send_str(json.dumps(messages, default=_json_time))
    return send


def _json_time(value: object) -> str:
    if isinstance(value, msgpack.Timestamp):
        return value.to_datetime().isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON serialisable: {value!r}")


async def _pump(client: _Client, send: Any) -> None:
    while True:
        await send(await client.queue.get())
