"""Socket.IO: who may connect, the snapshot a new browser gets, and the throttled emitter."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask_socketio import ConnectionRefusedError, SocketIO, emit

from stocktracker.streams.core.settings import WebSettings
from stocktracker.streams.core.trace import now_us
from stocktracker.web.auth import may_view
from stocktracker.web.events import EVENTS, LATENCY, STATUS, Batch
from stocktracker.web.hub import Feed

log = logging.getLogger(__name__)
PERIODIC = frozenset({STATUS, LATENCY})


def register(socketio: SocketIO, web: WebSettings, feed: Feed) -> None:
    """Refuse connections without the token (unless views are open); greet with a snapshot."""

    @socketio.on("connect")
    def connect(auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not may_view(web, token):
            raise ConnectionRefusedError("unauthorized: a valid token is required")
        for name, message in feed.snapshot().items():
            emit(name, message)


class Emitter:
    """Drains the feed and emits one batch per event to every browser, at most once per
    ``interval_s`` (plus the periodic status): an event on a quiet stream goes out at once,
    a busy stream is batched.

    The emit time is recorded against each item's origin (record-to-emit latency).
    """

    def __init__(self, socketio: SocketIO, feed: Feed, interval_s: float) -> None:
        self.socketio = socketio
        self.feed = feed
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self) -> dict[str, Batch]:
        """Emit what is due now; returns what was emitted."""
        self.feed.ready.clear()
        batches = self.feed.drain()
        for name in EVENTS:
            if name in batches:
                self.socketio.emit(name, batches[name].message())
        self.feed.emitted_at(batches, now_us())
        return batches

    def start(self) -> None:
        """Start the emitting thread."""
        self._thread = threading.Thread(target=self._run, name="web-emitter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop it and wait."""
        self._stop.set()
        self.feed.ready.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            self.feed.ready.wait(self.interval_s)  # woken by events; else status when due
            spacing = self.interval_s - (time.monotonic() - last)
            if spacing > 0 and self._stop.wait(spacing):
                break
            try:
                if set(self.flush()) - PERIODIC:  # the periodic status does not delay records
                    last = time.monotonic()
            except Exception:  # one failed emit must not stop the next ones
                log.exception("emit failed")
