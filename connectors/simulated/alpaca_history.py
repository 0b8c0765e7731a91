"""Alpaca's historical market data, served by the local Alpaca server in Alpaca's shapes.

Endpoints (registered on :class:`~connectors.simulated.alpaca_server.AlpacaServer` by
:meth:`MarketHistory.add_routes`), as alpaca-py's ``StockHistoricalDataClient`` and
``OptionHistoricalDataClient`` ask them:

- ``GET /v2/stocks/bars`` and ``GET /v1beta1/options/bars``: ``{"bars": {symbol: [{"t",
  "o", "h", "l", "c", "v", "n", "vw"}]}, "next_page_token": ...}``;
- ``GET /v2/stocks/trades`` and ``GET /v1beta1/options/trades``: ``{"trades": {symbol:
  [{"t", "x", "p", "s", "c", ...}]}, "next_page_token": ...}``;

with ``symbols`` (comma-separated), ``start`` and ``end`` (RFC 3339, both inclusive),
``limit`` (1000 by default, 10 000 at most, and never more than the server's page size),
``page_token`` (opaque: where the previous page stopped; items run symbol by symbol, each in
time order), ``timeframe`` (``1Min`` only) and ``feed`` (accepted, not used). The expired
contracts are the trading API's ``GET /v2/options/contracts`` with ``status=inactive``: the
server's paper account lists them (:meth:`MarketHistory.load`).

:func:`generate_history` makes the data: seeded minute bars of an underlying and of the 0DTE
contracts around each day's open, priced by Black-Scholes along the underlying's path, with
gaps (minutes without a bar, as a thinly traded contract has) and, when asked, trades.

Faults: :meth:`MarketHistory.throttle_next` answers 429 with a ``Retry-After`` header.
"""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from aiohttp import web

from stocktracker.connectors.history.market_quotes import parse_time_us
from stocktracker.connectors.simulated.alpaca_account import PaperAccount
from stocktracker.domain.market_hours import Session
from stocktracker.domain.pricing import bs_price, occ_symbol, year_fraction_us

Json = dict[str, Any]
_MINUTE_US = 60_000_000


def rfc3339(ts_us: int) -> str:
    """µs since the epoch as Alpaca writes times (UTC, ``Z``)."""
    moment = datetime.fromtimestamp(ts_us / 1e6, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = ts_us % 1_000_000
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


@dataclass
class HistoryData:
    """Bars and trades per symbol (each list in time order), and the expired contracts.

    Attributes
    ----------
    stock_bars, option_bars, stock_trades, option_trades:
        symbol -> Alpaca's JSON items, in time order.
    contracts:
        (OCC symbol, close price) of every contract listed as expired.
    """

    stock_bars: dict[str, list[Json]] = field(default_factory=dict)
    option_bars: dict[str, list[Json]] = field(default_factory=dict)
    stock_trades: dict[str, list[Json]] = field(default_factory=dict)
    option_trades: dict[str, list[Json]] = field(default_factory=dict)
    contracts: list[tuple[str, float]] = field(default_factory=list)

    def bar_count(self) -> int:
        """Bars of every symbol."""
        return sum(map(len, self.stock_bars.values())) + sum(map(len, self.option_bars.values()))


class MarketHistory:
    """The historical data endpoints of the local Alpaca server (see the module doc).

    Parameters
    ----------
    account:
        The server's paper account (the expired contracts are listed there).
    lock:
        The server's lock (handlers and controls may run on different threads).
    page_size:
        Most items per page, whatever the client asks (to test paging).
    """

    def __init__(self, account: PaperAccount, lock: threading.RLock, page_size: int = 10_000) -> None:
        self.account = account
        self.page_size = page_size
        self.data = HistoryData()
        self._lock = lock
        self._throttles: list[tuple[int, float]] = []
        self.throttled = 0
        """429s answered so far."""

    def load(self, data: HistoryData) -> None:
        """Serve ``data`` (added to what is served) and list its contracts as expired."""
        with self._lock:
            for mine, theirs in ((self.data.stock_bars, data.stock_bars),
                                 (self.data.option_bars, data.option_bars),
                                 (self.data.stock_trades, data.stock_trades),
                                 (self.data.option_trades, data.option_trades)):
                mine.update(theirs)
            self.data.contracts += data.contracts
            for symbol, close in data.contracts:
                listed = self.account.add_contract(symbol, open_interest=1000, close_price=close)
                listed.update(status="inactive", tradable=False)

    def throttle_next(self, count: int = 1, retry_after_s: float = 1.0) -> None:
        """Answer the next ``count`` history requests 429, ``Retry-After: retry_after_s``."""
        with self._lock:
            self._throttles.append((count, retry_after_s))

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the endpoints on the server's router."""
        router.add_get("/v2/stocks/bars", self._handler("stock_bars", "bars"))
        router.add_get("/v2/stocks/trades", self._handler("stock_trades", "trades"))
        router.add_get("/v1beta1/options/bars", self._handler("option_bars", "bars"))
        router.add_get("/v1beta1/options/trades", self._handler("option_trades", "trades"))

    def _handler(self, table: str, key: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            with self._lock:
                wait = self._take_throttle()
                if wait is not None:
                    self.throttled += 1
                    return web.json_response({"message": "too many requests."}, status=429,
                                             headers={"Retry-After": f"{wait:g}"})
                try:
                    body = self.page(getattr(self.data, table), key, dict(request.query))
                except ValueError as exc:
                    return web.json_response({"code": 42210000, "message": str(exc)}, status=422)
            return web.json_response(body)
        return handle

    def _take_throttle(self) -> float | None:
        if not self._throttles:
            return None
        count, wait = self._throttles[0]
        if count <= 1:
            self._throttles.pop(0)
        else:
            self._throttles[0] = (count - 1, wait)
        return wait

    def page(self, table: dict[str, list[Json]], key: str, query: dict[str, str]) -> Json:
        """One page of ``table`` for a query (see the module doc).

        Raises
        ------
        ValueError
            A query Alpaca would refuse (no symbols, a bad time, limit or timeframe).
        """
        symbols = sorted(set(filter(None, query.get("symbols", "").split(","))))
        if not symbols:
            raise ValueError("invalid symbols")
        if key == "bars" and query.get("timeframe", "1Min") not in ("1Min", "1T"):
            raise ValueError("only 1Min bars are served here")
        start = parse_time_us(query["start"]) if query.get("start") else 0
        end = parse_time_us(query["end"]) if query.get("end") else 2 ** 62
        limit = int(query.get("limit") or 1000)
        if not 1 <= limit <= 10_000:
            raise ValueError("invalid limit: must be between 1 and 10000")
        offset = _offset(query.get("page_token"))
        found = [(s, item) for s in symbols for item in table.get(s, ())
                 if start <= parse_time_us(item["t"]) <= end]
        size = min(limit, self.page_size)
        chunk = found[offset:offset + size]
        grouped: dict[str, list[Json]] = {}
        for symbol, item in chunk:
            grouped.setdefault(symbol, []).append(item)
        more = offset + size < len(found)
        return {key: grouped, "next_page_token": _token(offset + size) if more else None}


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        return int(text.removeprefix("offset:"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid page_token") from exc


def generate_history(underlying: str, sessions: Iterable[Session], *, seed: int,
                     start_price: float = 500.0, vol: float = 0.18, rate: float = 0.04,
                     listed_each_side: int = 8, strike_step: float = 1.0,
                     gap_share: float = 0.05, trades_per_bar: int = 0) -> HistoryData:
    """Seeded minute history of ``underlying`` and its 0DTE contracts, session by session.

    The underlying follows a geometric random walk minute by minute (annual ``vol``); each
    session lists calls and puts at ``listed_each_side`` strikes each side of the strike
    nearest its open, priced by Black-Scholes at every minute (time to that session's
    close). A bar's open and close are the prices at its minute's start and end, its high
    and low a little beyond them. An option minute has no bar with probability
    ``gap_share`` (the underlying always has one); ``trades_per_bar`` trades per bar, at
    prices within the bar, when asked.
    """
    rng = np.random.default_rng(seed)
    data = HistoryData()
    spot = start_price
    for session in sessions:
        minutes = (session.close_us - session.open_us) // _MINUTE_US
        per_minute = vol * math.sqrt(1 / (252 * 390))
        steps = rng.normal(-0.5 * per_minute ** 2, per_minute, minutes)
        path = [spot, *(spot * np.exp(np.cumsum(steps)))]
        atm = round(path[0] / strike_step) * strike_step
        strikes = [atm + k * strike_step for k in range(-listed_each_side, listed_each_side + 1)]
        times = [session.open_us + m * _MINUTE_US for m in range(minutes + 1)]
        bars = data.stock_bars.setdefault(underlying, [])
        bars += _bars(rng, [float(p) for p in path], times, 0.0, lambda p: round(p, 2), 100_000)
        expiry = session.day
        for strike in strikes:
            for kind in ("call", "put"):
                symbol = occ_symbol(underlying, expiry, kind, strike)
                prices = [bs_price(float(p), strike, year_fraction_us(t, session.close_us), vol,
                                   rate, kind) for p, t in zip(path, times, strict=True)]
                option = _bars(rng, prices, times, gap_share, lambda p: max(round(p, 2), 0.01),
                               500)
                data.option_bars[symbol] = option
                data.contracts.append((symbol, max(round(prices[-1], 2), 0.0)))
                if trades_per_bar:
                    data.option_trades[symbol] = _trades(rng, option, trades_per_bar)
        if trades_per_bar:
            data.stock_trades.setdefault(underlying, []).extend(
                _trades(rng, bars[-minutes:], trades_per_bar))
        spot = float(path[-1])
    return data


def _bars(rng: np.random.Generator, prices: list[float], times: list[int], gap_share: float,
          tidy: Any, volume: int) -> list[Json]:
    out = []
    for m in range(len(prices) - 1):
        if gap_share and rng.random() < gap_share:
            continue
        o, c = tidy(prices[m]), tidy(prices[m + 1])
        wiggle = abs(c - o) * 0.25 + 0.01
        h, lo = tidy(max(o, c) + wiggle * rng.random()), tidy(max(min(o, c) - wiggle * rng.random(), 0))
        v = int(rng.integers(1, volume))
        out.append({"t": rfc3339(times[m]), "o": o, "h": max(h, o, c), "l": min(lo, o, c),
                    "c": c, "v": v, "n": max(1, v // 10), "vw": round((o + c) / 2, 4)})
    return out


def _trades(rng: np.random.Generator, bars: list[Json], per_bar: int) -> list[Json]:
    out = []
    for bar in bars:
        start = parse_time_us(bar["t"])
        for k in range(per_bar):
            price = round(bar["l"] + (bar["h"] - bar["l"]) * rng.random(), 2)
            out.append({"t": rfc3339(start + (k + 1) * _MINUTE_US // (per_bar + 1)), "x": "C",
                        "p": price, "s": int(rng.integers(1, 20)), "c": "I",
                        "i": int(rng.integers(1, 2 ** 40))})
    return out
