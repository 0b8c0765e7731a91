"""Alpaca's market history through alpaca-py, with every answer kept on disk.

:class:`AlpacaHistory` asks alpaca-py's ``StockHistoricalDataClient`` (minute bars,
trades), ``OptionHistoricalDataClient`` (the contracts' minute bars, trades) and
``TradingClient`` (the contracts that expired on a day: ``status=inactive``) for one
session at a time. The SDK pages (``next_page_token``) itself; each HTTP request, every
page included, first takes a slot of the shared rate limiter, and a 429 is waited out as
its ``Retry-After`` says and sent again (a 5xx or a dropped connection after a backoff),
page by page, so a throttled tenth page does not cost the nine before it.

:class:`MarketCache` keeps the raw JSON per underlying, day, kind and symbol
(``<root>/SPY/2024-02-01/option_bars/SPY240201C00480000.json``); what is cached is never
asked again, so a second import of a day makes no HTTP call.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
from alpaca.data.enums import DataFeed
from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import OptionBarsRequest, OptionTradesRequest, StockBarsRequest, StockTradesRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetStatus
from alpaca.trading.requests import GetOptionContractsRequest

from stocktracker.connectors.alpaca.broker import LimitedSession
from stocktracker.connectors.alpaca.limiter import RateLimiter
from stocktracker.domain.market_hours import Session

log = logging.getLogger(__name__)
Json = dict[str, Any]
SYMBOLS_PER_REQUEST = 100
"""Option symbols asked in one bars or trades request (Alpaca takes up to 100)."""


class RetryingSession(LimitedSession):
    """The SDK's session: the rate limiter before each request, then a 429 waited out
    (``Retry-After``, seconds) and a 5xx or a transport failure retried with backoff.

    Parameters
    ----------
    timeout_s, limiter:
        As :class:`~connectors.alpaca.broker.LimitedSession`.
    retries:
        Sends after the first, per request.
    backoff_s:
        First wait after a 5xx or a transport failure (doubling), and the wait after a 429
        without a readable ``Retry-After``.
    sleep:
        How to wait (tests pass a recorder that does not).
    """

    def __init__(self, timeout_s: float, limiter: RateLimiter, retries: int = 5,
                 backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(timeout_s, limiter)
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.sent = 0
        self.throttled = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Send, and send again after a 429, a 5xx or a transport failure (see the class)."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                self.sent += 1
                response = super().request(method, url, *args, **kwargs)
            except requests.RequestException:
                if last:
                    raise
                self.sleep(self.backoff_s * 2 ** attempt)
                continue
            if response.status_code == 429 and not last:
                self.throttled += 1
                self.sleep(retry_after_s(response.headers.get("Retry-After"), self.backoff_s))
            elif response.status_code >= 500 and not last:
                log.warning("Alpaca answered %d; retrying", response.status_code)
                self.sleep(self.backoff_s * 2 ** attempt)
            else:
                return response
        raise AssertionError("unreachable")


def retry_after_s(header: str | None, default: float, cap_s: float = 60.0) -> float:
    """The seconds a ``Retry-After`` header asks for (``default`` when absent or a date)."""
    try:
        wait = float(header) if header is not None else default
    except ValueError:
        return default
    return min(max(wait, 0.0), cap_s) if wait == wait else default


class MarketCache:
    """Raw answers on disk, one JSON file per underlying, day, kind and symbol."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, underlying: str, day: date, kind: str, name: str) -> Path:
        """Where one answer is kept."""
        return self.root / underlying / day.isoformat() / kind / f"{name}.json"

    def get(self, underlying: str, day: date, kind: str, name: str) -> Any:
        """The kept answer, or ``None``."""
        path = self.path(underlying, day, kind, name)
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def put(self, underlying: str, day: date, kind: str, name: str, value: Any) -> None:
        """Keep an answer (written whole, then renamed: never half a file)."""
        path = self.path(underlying, day, kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)


def _raw(answer: object) -> Json:
    """The SDK's answer with ``raw_data``: a dict (symbol -> items)."""
    if not isinstance(answer, dict):
        raise TypeError(f"expected raw JSON from alpaca-py, got {type(answer).__name__}")
    return answer


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, tz=UTC)


class AlpacaHistory:
    """One session's history of an underlying and its contracts (see the module doc).

    Parameters
    ----------
    api_key, secret_key:
        Alpaca keys (never logged; paper keys read market data too).
    cache:
        Where answers are kept.
    limiter:
        Shared by every request.
    paper:
        The paper trading host for the contracts endpoint unless False.
    trading_url, data_url:
        Host overrides (the local server in tests).
    stock_feed:
        ``sip`` (every exchange; history older than 15 minutes is free) or ``iex``.
    session:
        The HTTP session of every client (default: a :class:`RetryingSession`).
    """

    def __init__(self, api_key: str, secret_key: str, cache: MarketCache, limiter: RateLimiter,
                 *, paper: bool = True, trading_url: str | None = None,
                 data_url: str | None = None, stock_feed: str = "sip",
                 session: RetryingSession | None = None, page_limit: int = 10_000) -> None:
        self.cache = cache
        self.stock_feed = stock_feed
        self.page_limit = page_limit
        self.session = session or RetryingSession(10.0, limiter)
        self._trading = TradingClient(api_key, secret_key, paper=paper, raw_data=True,
                                      url_override=trading_url)
        self._stocks = StockHistoricalDataClient(api_key, secret_key, raw_data=True,
                                                 url_override=data_url)
        self._options = OptionHistoricalDataClient(api_key, secret_key, raw_data=True,
                                                   url_override=data_url)
        for client in (self._trading, self._stocks, self._options):
            client._session.close()
            client._session = self.session
            client._retry = 0  # the session retries, request by request

    def stock(self, kind: str, symbol: str, session: Session) -> list[Json]:
        """``bars`` or ``trades`` of an underlying over a session (cached)."""
        kept = self.cache.get(symbol, session.day, f"stock_{kind}", symbol)
        if kept is not None:
            return list(kept)
        start, end = _utc(session.open_us), _utc(session.close_us - 1)
        feed = DataFeed(self.stock_feed)
        raw: object
        if kind == "bars":
            raw = self._stocks.get_stock_bars(StockBarsRequest(
                symbol_or_symbols=[symbol], timeframe=TimeFrame.Minute, start=start, end=end,
                feed=feed))
        else:
            raw = self._stocks.get_stock_trades(StockTradesRequest(
                symbol_or_symbols=[symbol], start=start, end=end, feed=feed))
        found = list(_raw(raw).get(symbol, []))
        self.cache.put(symbol, session.day, f"stock_{kind}", symbol, found)
        return found

    def options(self, kind: str, underlying: str, symbols: list[str],
                session: Session) -> dict[str, list[Json]]:
        """``bars`` or ``trades`` of option ``symbols`` over a session (each cached)."""
        folder = f"option_{kind}"
        got = {s: self.cache.get(underlying, session.day, folder, s) for s in symbols}
        missing = [s for s, v in got.items() if v is None]
        for at in range(0, len(missing), SYMBOLS_PER_REQUEST):
            chunk = missing[at:at + SYMBOLS_PER_REQUEST]
            start, end = _utc(session.open_us), _utc(session.close_us - 1)
            raw: object
            if kind == "bars":
                raw = self._options.get_option_bars(OptionBarsRequest(
                    symbol_or_symbols=chunk, timeframe=TimeFrame.Minute, start=start, end=end))
            else:
                raw = self._options.get_option_trades(OptionTradesRequest(
                    symbol_or_symbols=chunk, start=start, end=end))
            found = _raw(raw)
            for symbol in chunk:
                got[symbol] = list(found.get(symbol, []))
                self.cache.put(underlying, session.day, folder, symbol, got[symbol])
        return {s: list(v or []) for s, v in got.items()}

    def expired_contracts(self, underlying: str, day: date, low: float, high: float) -> list[Json]:
        """The contracts of ``underlying`` that expired on ``day`` with strikes in
        ``[low, high]``, every page (cached)."""
        name = f"{underlying}-{low:g}-{high:g}"
        kept = self.cache.get(underlying, day, "contracts", name)
        if kept is not None:
            return list(kept)
        found: list[Json] = []
        token: str | None = None
        while True:
            request = GetOptionContractsRequest(
                underlying_symbols=[underlying], status=AssetStatus.INACTIVE,
                expiration_date=day, strike_price_gte=f"{low:g}", strike_price_lte=f"{high:g}",
                limit=self.page_limit, page_token=token)
            page = _raw(self._trading.get_option_contracts(request))
            found += page.get("option_contracts") or []
            token = page.get("next_page_token")
            if not token:
                break
        self.cache.put(underlying, day, "contracts", name, found)
        return found

    def close(self) -> None:
        """Release the HTTP session."""
        self.session.close()
