"""The option chain from Alpaca: contracts (open interest) merged with chain snapshots.

:meth:`AlpacaChain.fetch` reads, for one underlying and expiry,

- the contracts, ``GET /v2/options/contracts`` (as ``TradingClient.get_option_contracts``
  asks it), page after page while there is a ``next_page_token``: strike, type, open
  interest, and whether the class is in the penny program (``ppind``, for the price steps
  of :mod:`domain.price_steps`);
- the chain snapshots, ``GET /v1beta1/options/snapshots/{underlying}``
  (``OptionHistoricalDataClient.get_option_chain``, which pages itself), on the feed of
  ``ALPACA_OPTIONS_FEED`` (``indicative``: free, delayed; ``opra``: real time): the
  quote, and the IV and greeks when the feed has them;

and merges them into :class:`~domain.contracts.ChainQuote` s. A contract without a quote
is left out (nothing to trade it against); a quote without a listed contract is kept (its
terms from the OCC symbol). When a snapshot lacks the IV or the delta they are computed
here with Black-Scholes: the IV implied from the mid, the delta from that IV, with the
spot from :meth:`AlpacaChain.spot` and the time to the 16:00 New York close of the expiry
(half-day closes are not known here; a 0DTE delta near a 13:00 close is a little off).

:meth:`AlpacaChain.spot` is the mid of the underlying's latest quote
(``GET /v2/stocks/quotes/latest``, the data API's default feed for the account).
``volume`` stays ``None``: alpaca-py's ``OptionsSnapshot`` drops the daily bar.

Every HTTP request (each page too) waits for the shared rate limiter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from alpaca.data.historical.option import OptionHistoricalDataClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models.snapshots import OptionsSnapshot
from alpaca.data.requests import OptionChainRequest, StockLatestQuoteRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.models import OptionContract, OptionContractsResponse
from alpaca.trading.requests import GetOptionContractsRequest

from stocktracker.connectors.alpaca import convert
from stocktracker.connectors.alpaca.broker import call, credentials, prepare
from stocktracker.connectors.alpaca.config import AlpacaSettings
from stocktracker.connectors.alpaca.limiter import RateLimiter, shared_limiter
from stocktracker.connectors.broker import BrokerError
from stocktracker.domain.contracts import ChainQuote, expiry_close_us, implied_vol
from stocktracker.domain.pricing import bs_delta, year_fraction_us

log = logging.getLogger(__name__)


def _now_us() -> int:
    return time.time_ns() // 1000


class AlpacaChain:
    """Option chains and spot prices from Alpaca (see the module docstring).

    Parameters
    ----------
    api_key, secret_key:
        Alpaca keys (never logged).
    paper:
        The paper trading host for the contracts endpoint unless False.
    trading_url, data_url:
        Host overrides (tests).
    feed:
        Options feed, ``indicative`` or ``opra``.
    limiter:
        Shared with the broker of the same key.
    page_size:
        Contracts asked per page (Alpaca's most is 10 000).
    rate:
        Risk-free rate for the local greeks.
    now_us:
        The clock for the time to expiry (µs since the epoch).
    refresh_s:
        How often the chain agent refreshes the cache from this source.
    """

    def __init__(self, api_key: str, secret_key: str, *, paper: bool = True,
                 trading_url: str | None = None, data_url: str | None = None,
                 feed: str = "indicative", limiter: RateLimiter | None = None,
                 max_retries: int = 3, timeout_s: float = 5.0, page_size: int = 1000,
                 rate: float = 0.04, backoff_s: float = 0.25, backoff_cap_s: float = 5.0,
                 now_us: Callable[[], int] = _now_us, refresh_s: float = 10.0) -> None:
        if feed not in ("indicative", "opra"):
            raise ValueError(f"feed must be indicative or opra, not {feed!r}")
        self.feed = feed
        self.refresh_s = refresh_s
        self.limiter = limiter or RateLimiter()
        self.page_size = page_size
        self.rate = rate
        self._now_us = now_us
        self._retry = {"retries": max_retries, "backoff_s": backoff_s, "backoff_cap_s": backoff_cap_s}
        self._trading = TradingClient(api_key, secret_key, paper=paper, url_override=trading_url)
        self._options = OptionHistoricalDataClient(api_key, secret_key, url_override=data_url)
        self._stocks = StockHistoricalDataClient(api_key, secret_key, url_override=data_url)
        for client in (self._trading, self._options, self._stocks):
            prepare(client, timeout_s, self.limiter)

    @classmethod
    def from_settings(cls, settings: AlpacaSettings, live: bool = False,
                      limiter: RateLimiter | None = None) -> AlpacaChain:
        """From ``ALPACA_*`` settings (the limiter shared with the broker of the same key)."""
        a = settings
        key, secret = credentials(a)
        return cls(key, secret, paper=not live, trading_url=a.trading_url, data_url=a.data_url,
                   feed=a.options_feed, limiter=limiter or shared_limiter(key, a.requests_per_minute),
                   max_retries=a.max_retries, timeout_s=a.timeout_s, refresh_s=a.chain_refresh_s)

    async def _call(self, fn: Callable[..., Any], *args: Any, what: str) -> Any:
        return await call(fn, *args, what=what, **self._retry)  # type: ignore[arg-type]

    async def contracts(self, underlying: str, expiry: date
                        ) -> tuple[list[OptionContract], dict[str, bool | None]]:
        """Every active contract of ``underlying`` expiring on ``expiry`` (all pages), and
        each one's penny-program flag (``ppind``, which alpaca-py's model drops: the pages
        are read as JSON through the SDK's client, then validated)."""
        found: list[OptionContract] = []
        pennies: dict[str, bool | None] = {}
        token: str | None = None
        while True:
            request = GetOptionContractsRequest(underlying_symbols=[underlying], expiration_date=expiry,
                                                limit=self.page_size, page_token=token)
            raw = await self._call(self._contracts_json, request, what="option contracts")
            page, penny = convert.contracts_page(raw)
            found += page.option_contracts or []
            pennies.update(penny)
            token = page.next_page_token
            if not token:
                return found, pennies

    def _contracts_json(self, request: GetOptionContractsRequest) -> Any:
        """``GET /v2/options/contracts`` as JSON, the parameters as alpaca-py sends them."""
        params = request.to_request_fields()
        params["underlying_symbols"] = ",".join(request.underlying_symbols or [])
        return self._trading.get("/options/contracts", params)

    async def snapshots(self, underlying: str, expiry: date) -> dict[str, OptionsSnapshot]:
        """The chain snapshots of ``underlying`` expiring on ``expiry`` (the SDK pages)."""
        request = OptionChainRequest(underlying_symbol=underlying, feed=self.feed,  # type: ignore[arg-type]
                                     expiration_date=expiry)
        found = await self._call(self._options.get_option_chain, request, what="option chain")
        return {s: snap for s, snap in found.items() if isinstance(snap, OptionsSnapshot)}

    async def underlying_quote(self, underlying: str) -> dict[str, Any]:
        """The underlying's latest quote as a ``Quote`` record (no option fields).

        Raises
        ------
        BrokerError
            When there is no two-sided quote.
        """
        quotes = await self._call(self._stocks.get_stock_latest_quote,
                                  StockLatestQuoteRequest(symbol_or_symbols=underlying),
                                  what="latest quote")
        quote = quotes.get(underlying)
        if quote is None or quote.bid_price <= 0 or quote.ask_price <= 0:
            raise BrokerError(f"no two-sided quote for {underlying}")
        return {"symbol": underlying, "underlying": underlying, "bid": float(quote.bid_price),
                "ask": float(quote.ask_price), "bid_size": int(quote.bid_size or 0),
                "ask_size": int(quote.ask_size or 0), "option_type": None, "strike": None,
                "expiry": None, "iv": None, "delta": None, "open_interest": None, "volume": None,
                "event_time": int(quote.timestamp.timestamp() * 1_000_000), "trace": {}}

    async def spot(self, underlying: str) -> float:
        """The mid of the underlying's latest quote (:class:`BrokerError` without one)."""
        quote = await self.underlying_quote(underlying)
        return (quote["bid"] + quote["ask"]) / 2

    async def nearest_expiry(self, underlying: str, day: date, within_days: int = 7) -> date | None:
        """The first expiry of ``underlying`` on or after ``day`` (within ``within_days``)."""
        request = GetOptionContractsRequest(underlying_symbols=[underlying],
                                            expiration_date_gte=day,
                                            expiration_date_lte=day + timedelta(days=within_days),
                                            limit=self.page_size)
        page = await self._call(self._trading.get_option_contracts, request, what="option contracts")
        if not isinstance(page, OptionContractsResponse) or not page.option_contracts:
            return None
        return min(c.expiration_date for c in page.option_contracts)

    async def fetch(self, underlying: str, expiry: date, spot: float | None = None) -> list[ChainQuote]:
        """The chain of ``underlying`` for ``expiry``, sorted by symbol (see the module doc).

        ``spot`` is only needed (and looked up when not given) if a snapshot lacks greeks.
        """
        listed, penny = await self.contracts(underlying, expiry)
        contracts = {c.symbol: c for c in listed}
        snaps = await self.snapshots(underlying, expiry)
        quotes = [convert.chain_quote(s, contracts.get(s), snaps.get(s), penny.get(s))
                  for s in sorted(set(contracts) | set(snaps))]
        chain = [q for q in quotes if q is not None]
        if any(q.iv is None or q.delta is None for q in chain):
            if spot is None:
                spot = await self.spot(underlying)
            now = self._now_us()  # greeks at each quote's own time (a delayed feed lags)
            chain = [with_local_greeks(q, spot, q.quote_us or now, self.rate) for q in chain]
        return chain

    async def close(self) -> None:
        """Release the HTTP sessions."""
        for client in (self._trading, self._options, self._stocks):
            client._session.close()


def with_local_greeks(q: ChainQuote, spot: float, now_us: int, rate: float) -> ChainQuote:
    """``q`` with the IV (implied from the mid) and the delta (from that IV) it lacks.

    Unchanged when it has both, or has no positive mid to imply from.
    """
    if (q.iv is not None and q.delta is not None) or q.bid < 0 or q.ask <= 0 or spot <= 0:
        return q
    t_years = year_fraction_us(now_us, expiry_close_us(q.expiry))
    iv = q.iv if q.iv is not None else implied_vol(q.mid, spot, q.strike, t_years, rate, q.option_type)
    delta = q.delta if q.delta is not None else bs_delta(spot, q.strike, t_years, iv, rate,
                                                        q.option_type)
    return replace(q, iv=round(iv, 6), delta=round(delta, 6))
