"""A local webhook receiver for the alert tests: a generic JSON endpoint and a Slack-style
incoming webhook, in a thread.

``/generic`` answers 204 and keeps the JSON body. ``/slack/...`` answers as Slack's incoming
webhooks do: ``200 ok`` (text) for a body with ``text``, ``400 invalid_payload`` without it,
``400 no_text`` for an empty text. Faults are queued per path (``fail(path, status,
retry_after)``): the next requests answer that status (a 429 with ``Retry-After``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GENERIC_PATH = "/generic"
SLACK_PATH = "/slack/T000/B000/XXXXXXXX"


class WebhookServer:
    """What was posted where, and the faults still to answer."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[tuple[str, int]] = []
        self._faults: dict[str, list[tuple[int, str | None]]] = {}
        self._lock = threading.Lock()
        self.url = ""

    def fail(self, path: str, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """The next ``count`` posts to ``path`` answer ``status``."""
        with self._lock:
            self._faults.setdefault(path, []).extend([(status, retry_after)] * count)

    def bodies(self, path: str = GENERIC_PATH) -> list[dict[str, Any]]:
        """The bodies taken at ``path``, in order."""
        with self._lock:
            return [body for where, body in self.received if where == path]

    def _answer(self, path: str, raw: bytes) -> tuple[int, str, dict[str, str]]:
        with self._lock:
            faults = self._faults.get(path)
            if faults:
                status, after = faults.pop(0)
                self.refused.append((path, status))
                return status, "rate_limited" if status == 429 else "error", \
                    {"Retry-After": after} if after else {}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, "invalid_payload", {}
        if path.startswith("/slack/"):
            if not isinstance(body, dict) or "text" not in body:
                return 400, "invalid_payload", {}
            if not body["text"]:
                return 400, "no_text", {}
        elif path != GENERIC_PATH:
            return 404, "no_service", {}
        with self._lock:
            self.received.append((path, body))
        return (200, "ok", {}) if path.startswith("/slack/") else (204, "", {})

    @contextmanager
    def running(self) -> Iterator[WebhookServer]:
        """Serve on a free local port until the block ends (``url`` is its base)."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, text, headers = owner._answer(self.path, raw)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                data = text.encode()
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, name="webhook-server", daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
