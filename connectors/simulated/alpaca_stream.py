"""The trade-updates websocket of the local Alpaca server (``/stream``).

JSON messages, sent as binary frames like Alpaca's: a client sends ``authenticate`` (the
server's key and secret), then ``listen`` to ``trade_updates``, and from then on is sent
every trade update of the paper account. :class:`TradeUpdatesStream` keeps the connections
and the stream's faults: every connection dropped (and new ones refused), a trade update
sent unreadable (one of :data:`GARBLES`), an order's trade updates sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterable

from aiohttp import WSMsgType, web

from stocktracker.connectors.simulated.alpaca_account import Json

GARBLES = ("json", "order", "qty", "filled_qty")
"""How a trade update can be made unreadable (see :meth:`TradeUpdatesStream.garble_next`)."""


class TradeUpdatesStream:
    """The ``/stream`` websocket: its connections, the trade updates sent them, its faults.

    Its route handler (:meth:`handle`) and socket closing run on the server's loop
    (:meth:`start`); the other methods may be called from any thread.

    Parameters
    ----------
    api_key, secret_key:
        The credentials the ``authenticate`` message must carry.
    lock:
        The server's lock: the account's trade updates are broadcast under it, and the
        stream's faults are set under it.

    Attributes
    ----------
    connections:
        Websocket connections accepted so far.
    garbled:
        The bytes of every trade update sent unreadable, in order.
    """

    def __init__(self, api_key: str, secret_key: str, lock: threading.RLock) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.connections = 0
        self.garbled: list[bytes] = []
        self._lock = lock
        self._refuse = False
        self._garbles: list[tuple[str, str]] = []
        self._sockets: dict[web.WebSocketResponse, asyncio.Queue[bytes]] = {}
        self._closing: set[asyncio.Future[bool]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def subscribers(self) -> int:
        """Connections listening now."""
        return len(self._sockets)

    # ---- life ---------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve from ``loop`` (the server's): trade updates are queued to listeners on it."""
        self._loop = loop

    async def close(self) -> None:
        """Close every connection (the server is stopping)."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()

    # ---- faults -------------------------------------------------------------------------------
    def drop(self, refuse: bool = False) -> None:
        """Close every connection; with ``refuse``, refuse new ones until :meth:`allow`."""
        with self._lock:
            self._refuse = refuse
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._close_sockets)

    def allow(self) -> None:
        """Accept connections again."""
        with self._lock:
            self._refuse = False

    def garble_next(self, how: str, event: str) -> None:
        """Send the next trade update of kind ``event`` unreadable, as ``how`` (one of
        :data:`GARBLES`) says, and keep the bytes sent in ``garbled``."""
        if how not in GARBLES:
            raise ValueError(f"how must be one of {GARBLES}, not {how!r}")
        with self._lock:
            self._garbles.append((how, event))

    def resend(self, events: Iterable[Json]) -> None:
        """Send these trade updates again, as they were (under the lock)."""
        for data in events:
            self._send(_frame("trade_updates", data))

    # ---- sending ------------------------------------------------------------------------------
    def broadcast(self, data: Json) -> None:
        """Called under the lock from any thread: queue the event (garbled when asked) for
        every listener."""
        frame = _frame("trade_updates", data)
        garble = next((g for g in self._garbles if g[1] == data["event"]), None)
        if garble is not None:
            self._garbles.remove(garble)
            frame = _garbled(garble[0], data)
            self.garbled.append(frame)
        self._send(frame)

    def _send(self, frame: bytes) -> None:
        if self._loop is None:
            return
        for queue in list(self._sockets.values()):
            self._loop.call_soon_threadsafe(queue.put_nowait, frame)

    def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            self._sockets.pop(ws, None)
            task = asyncio.ensure_future(ws.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # ---- websocket ----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The ``/stream`` route: authenticate, listen, then trade updates until closed."""
        with self._lock:
            refuse = self._refuse
        if refuse:
            return web.json_response({"code": 42910000, "message": "connection limit exceeded"},
                                     status=429)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        writer: asyncio.Task[None] | None = None
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    action = json.loads(msg.data)
                except ValueError:
                    await ws.send_bytes(_frame("error", {"code": 400, "msg": "invalid syntax"}))
                    continue
                data = action.get("data") or {}
                if action.get("action") == "authenticate":
                    ok = data.get("key_id") == self.api_key and data.get("secret_key") == self.secret_key
                    await ws.send_bytes(_frame("authorization", {
                        "status": "authorized" if ok else "unauthorized", "action": "authenticate"}))
                    if not ok:
                        break
                elif action.get("action") == "listen":
                    streams = [s for s in data.get("streams", []) if s == "trade_updates"]
                    await ws.send_bytes(_frame("listening", {"streams": streams}))
                    if streams and writer is None:
                        self._sockets[ws] = queue
                        writer = asyncio.create_task(_pump(ws, queue))
        finally:
            self._sockets.pop(ws, None)
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            await ws.close()
        return ws


async def _pump(ws: web.WebSocketResponse, queue: asyncio.Queue[bytes]) -> None:
    while True:
        frame = await queue.get()
        await ws.send_bytes(frame)


def _frame(stream: str, data: Json) -> bytes:
    return json.dumps({"stream": stream, "data": data}).encode()


def _garbled(how: str, data: Json) -> bytes:
    """A trade update made unreadable (see :meth:`TradeUpdatesStream.garble_next`)."""
    if how == "json":
        return _frame("trade_updates", data)[:-20]
    bad = dict(data)
    if how == "order":
        bad["order"] = "garbage"
    elif how == "qty":
        bad["qty"] = "two"
    else:
        bad["order"] = dict(data["order"], filled_qty="lots")
    return _frame("trade_updates", bad)
