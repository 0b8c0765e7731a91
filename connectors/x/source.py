"""X source: the API v2 filtered stream through tweepy's async streaming client.

On start the stream rules are synced (:mod:`connectors.x.rules`), then ``filter()`` streams
tweets with their authors expanded, asking for exactly the fields the parser reads
(:data:`connectors.x.parsing.TWEET_FIELDS`, ``EXPANSIONS``, ``USER_FIELDS``: X sends nothing
else). Each line becomes a :class:`RawPost` (or a :class:`Malformed`); posts failing the
settings' filters are counted in ``health.filtered``, posts that came without an engagement
count they should carry (read as 0) in ``health.missing_metrics``.

Reconnection, in two layers:

- tweepy's own loop (``AsyncBaseStream._connect``) reconnects after a dropped connection,
  a stall (no byte for ``read_timeout_s``; X sends a keep-alive every 20 s) or a stream
  the server closed, waiting 0, 0.25, 0.5 ... 16 s as X's guide says for network errors;
- HTTP errors on connect (429, 5xx, 401...) are taken from tweepy: its waits for them are
  fixed constants (5 s doubling to 320 s, at least 60 s for 429) that ignore
  ``x-rate-limit-reset`` and our cap. ``on_request_error`` ends tweepy's loop and ours
  waits instead: exponential backoff with jitter capped at ``reconnect_max_s``, and for
  429 at least until the reset the response announced. The rules endpoints use tweepy's
  ``wait_on_rate_limit`` (it sleeps until ``x-rate-limit-reset`` and retries).

The bearer token is never logged nor put in health: tweepy logs request headers at DEBUG,
so its loggers get a filter that masks the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
from tweepy import StreamRule
from tweepy.asynchronous import AsyncStreamingClient
from yarl import URL

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.queued import QueuedSource, backoff_delay
from stocktracker.connectors.x import parsing
from stocktracker.connectors.x.config import XSettings
from stocktracker.connectors.x.parsing import MISSING_METRICS, StreamNotice, parse_line, rejection
from stocktracker.connectors.x.rules import ExistingRule, build_rules, diff_rules

log = logging.getLogger(__name__)

X_API_HOST = "api.twitter.com"
EXPANSIONS = list(parsing.EXPANSIONS)
TWEET_FIELDS = list(parsing.TWEET_FIELDS)
USER_FIELDS = list(parsing.USER_FIELDS)
_TWEEPY_LOGGERS = ("tweepy.asynchronous.client", "tweepy.asynchronous.streaming", "tweepy.client")
_MAX_RESET_WAIT_S = 900.0  # X's rate-limit windows are 15 minutes


def rehosting_request_class(base_url: str) -> type[aiohttp.ClientRequest]:
    """An aiohttp request class that sends requests for ``api.twitter.com`` to ``base_url``.

    tweepy hard-codes ``https://api.twitter.com`` in two places (``AsyncBaseClient.request``
    for REST, ``AsyncStreamingClient._connect`` for the stream), but both send through the
    client's ``session`` when one is set. A session built with this ``request_class``
    (aiohttp's own extension point) swaps only scheme, host and port as each request is
    built, so every byte of request and response handling stays tweepy's and aiohttp's.
    """
    target = URL(base_url.rstrip("/"))

    class RehostedRequest(aiohttp.ClientRequest):
        def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
            if url.host == X_API_HOST:
                url = URL(str(target) + url.raw_path_qs, encoded=True)
            super().__init__(method, url, **kwargs)

    return RehostedRequest


class _HTTPStatusError(Exception):
    """Raised in ``on_request_error`` to end tweepy's loop so that ours backs off."""

    def __init__(self, status: int) -> None:
        super().__init__(f"stream connect answered HTTP {status}")
        self.status = status


class _StreamClient(AsyncStreamingClient):
    """tweepy's streaming client with its hooks wired to an :class:`XSource`."""

    def __init__(self, source: XSource, token: str, session: aiohttp.ClientSession) -> None:
        super().__init__(token, wait_on_rate_limit=True)
        self.session = session  # shared by REST and stream: see rehosting_request_class
        self._source = source

    async def on_connect(self) -> None:
        self._source._on_connect()

    async def on_data(self, raw_data: bytes) -> None:
        await self._source._on_line(raw_data)

    async def on_keep_alive(self) -> None:
        pass

    async def on_closed(self, resp: aiohttp.ClientResponse) -> None:
        self._source._count_lost("stream closed by the server")

    async def on_connection_error(self) -> None:
        self._source._count_lost("stream connection error or stall")

    async def on_request_error(self, status_code: int) -> None:
        raise _HTTPStatusError(status_code)

    async def on_exception(self, exception: Exception) -> None:
        self._source._on_error(exception)

    async def on_disconnect(self) -> None:
        self._source._mark_disconnected()


class XSource(QueuedSource):
    """Posts from X's filtered stream (see the module docstring).

    Parameters
    ----------
    settings:
        ``x_*`` settings, ``reconnect_max_s`` and ``buffer_size``; ``x_bearer_token`` is required.
    tickers:
        Symbols to build rules for (default ``SPY``).
    backoff_base_s:
        First wait of our backoff (doubles per failed attempt up to ``reconnect_max_s``).
    read_timeout_s:
        A stream silent this long is reconnected (tweepy's default, 21 s).
    """

    name = "x"

    def __init__(self, settings: XSettings, tickers: tuple[str, ...] = ("SPY",), *,
                 backoff_base_s: float = 1.0, read_timeout_s: float = 21.0) -> None:
        if settings.x_bearer_token is None:
            raise ValueError("INGEST_X_BEARER_TOKEN is not set")
        self._token = settings.x_bearer_token.get_secret_value()
        super().__init__(settings.buffer_size, [self._token], _TWEEPY_LOGGERS)
        self._settings = settings
        self.rules = build_rules(tickers or ("SPY",), settings.x_keywords)
        self._backoff_base_s = backoff_base_s
        self._read_timeout_s = read_timeout_s
        self._rules_synced = False
        self._ever_connected = False
        self._attempt = 0
        self._rate_reset: float | None = None

    # ---- the loop ----------------------------------------------------------------------
    def _session(self) -> aiohttp.ClientSession:
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_response)
        base = self._settings.x_base_url
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(enable_cleanup_closed=True),  # as tweepy's own
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self._read_timeout_s),
            request_class=rehosting_request_class(base) if base else aiohttp.ClientRequest,
            trace_configs=[trace])

    async def _run(self) -> None:
        while not self._stopped:
            session = self._session()
            client = _StreamClient(self, self._token, session)
            try:
                if not self._rules_synced:
                    await self._sync_rules(client)
                await client.filter(expansions=EXPANSIONS, tweet_fields=TWEET_FIELDS,
                                    user_fields=USER_FIELDS)
            except Exception as exc:  # the rules endpoints: tweepy / aiohttp errors
                self._on_error(exc)
            finally:
                client.disconnect()
                await session.close()
            self._mark_disconnected()
            if self._stopped:
                return
            await asyncio.sleep(self._next_delay())

    def _next_delay(self) -> float:
        delay = backoff_delay(self._attempt, self._backoff_base_s, self._settings.reconnect_max_s)
        self._attempt += 1
        if self._rate_reset is not None:
            until_reset = min(self._rate_reset - time.time(), _MAX_RESET_WAIT_S)
            delay = max(delay, until_reset + 0.1)
            self._rate_reset = None
        return delay

    async def _sync_rules(self, client: _StreamClient) -> None:
        current = await client.get_rules()
        existing = [ExistingRule(str(r.id), r.value, r.tag) for r in current.data or []]
        diff = diff_rules(self.rules, existing)
        if diff.delete:
            await client.delete_rules(list(diff.delete))
        if diff.add:
            added = await client.add_rules([StreamRule(value=r.value, tag=r.tag) for r in diff.add])
            for error in added.errors:
                self._count_error(f"rule refused: {error.get('title')}: {error.get('value')}")
        self._rules_synced = True
        log.info("X rules synced: %d added, %d deleted", len(diff.add), len(diff.delete))

    # ---- tweepy's hooks ----------------------------------------------------------------
    def _on_connect(self) -> None:
        if self._ever_connected:
            self._count_reconnect()
        self._ever_connected = True
        self._mark_connected()
        self._attempt = 0

    def _on_error(self, exc: BaseException) -> None:
        self._count_lost(str(exc) if isinstance(exc, _HTTPStatusError) else f"{type(exc).__name__}: {exc}")
        log.warning("X stream: %s", self.health.last_error)

    async def _on_response(self, session: aiohttp.ClientSession, context: SimpleNamespace,
                           params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status == 429:
            self._count_rate_limit()
            reset = params.response.headers.get("x-rate-limit-reset", "")
            self._rate_reset = float(reset) if reset.isdigit() else None

    async def _on_line(self, line: bytes) -> None:
        received_us = time.time_ns() // 1000
        item = parse_line(line, received_us)
        if isinstance(item, StreamNotice):
            self._count_error(item.reason)
            return
        self._count_missing_metrics(item)
        await self._deliver(item)

    def _count_missing_metrics(self, item: RawPost | Malformed) -> None:
        if isinstance(item, Malformed) or MISSING_METRICS not in item.extra:
            return
        if not self.health.missing_metrics:
            log.warning("X posts arrive without %s (read as 0; counted in "
                        "health.missing_metrics)", item.extra[MISSING_METRICS])
        self.health.missing_metrics += 1

    def _keeps(self, post: RawPost) -> bool:
        return rejection(post, self._settings) is None


def x_source(settings: XSettings, tickers: tuple[str, ...] = ("SPY",)) -> XSource | None:
    """The X source, or ``None`` when ``INGEST_X_BEARER_TOKEN`` is not set."""
    if settings.x_bearer_token is None or not settings.x_bearer_token.get_secret_value():
        return None
    return XSource(settings, tickers)
