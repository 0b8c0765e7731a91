"""Real-time option and stock quotes from Alpaca's market-data websockets (alpaca-py).

alpaca-py's ``OptionDataStream`` (``/v1beta1/{ALPACA_OPTIONS_FEED}``, msgpack) and
``StockDataStream`` (``/v2/{ALPACA_STOCK_FEED}``) each run their own event loop in
``run()``, and their ``subscribe_quotes`` blocks until the subscribe message is sent on
that loop. So each runs on a thread of its own, started when it first has something to
stream, and is driven from the worker's loop through :meth:`AlpacaQuoteStream.want` (the
blocking calls in a worker thread, never on the worker's loop). Quotes come back to the
worker's loop with ``call_soon_threadsafe`` and are coalesced per symbol: a consumer that
falls behind gets each symbol's latest quote, never a backlog of old ones.

alpaca-py reconnects by itself after a drop (backing off from 1 s to 30 s, a 406
"connection limit exceeded" included) and sends every subscription again once it is back:
a subscription change made while it is down is kept and sent then. Its errors are logged
by alpaca-py (logger ``alpaca.data.live.websocket``) and never end the worker; the REST
refresh of the chain (:mod:`agents.chain`) goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from alpaca.data.enums import DataFeed, OptionsFeed
from alpaca.data.live.option import OptionDataStream
from alpaca.data.live.stock import StockDataStream
from alpaca.data.live.websocket import DataStream
from alpaca.data.models import Quote

from stocktracker.connectors.alpaca.broker import credentials
from stocktracker.connectors.alpaca.config import AlpacaSettings
from stocktracker.connectors.alpaca.convert import micros
from stocktracker.domain.streamed_quotes import StreamedQuote

log = logging.getLogger(__name__)


class _Feed:
    """One alpaca-py data stream on a thread of its own, and the symbols asked of it.

    Every method blocks (they talk to the stream's loop): call them from a worker thread.
    """

    def __init__(self, name: str, make: Callable[[], DataStream],
                 handler: Callable[[Any], Any]) -> None:
        self.name = name
        self._make, self._handler = make, handler
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self.asked: set[str] = set()
        self.ended = False

    def sync(self, wanted: set[str]) -> None:
        """Subscribe to what is wanted and not asked yet, unsubscribe from the rest; with
        nothing wanted, disconnect."""
        if not wanted:
            self.stop()
            return
        if self._thread is not None and not self._thread.is_alive():
            if not self.ended:  # alpaca-py gave up (insufficient subscription): do not loop
                log.error("%s quote stream ended; quotes come from the REST refresh only",
                          self.name)
            self.ended = True
            return
        if self._stream is None:  # alpaca-py connects once it has a subscription
            self._stream = self._make()
            self._stream.subscribe_quotes(self._handler, *sorted(wanted))
            self.asked = set(wanted)
            self._thread = threading.Thread(target=self._run, name=f"alpaca-{self.name}-quotes",
                                            daemon=True)
            self._thread.start()
            return
        add, drop = sorted(wanted - self.asked), sorted(self.asked - wanted)
        if add:
            self.asked |= set(add)  # kept by alpaca-py even when the send fails: sent on reconnect
            self._change(self._stream.subscribe_quotes, self._handler, *add)
        if drop and self._change(self._stream.unsubscribe_quotes, *drop):
            self.asked -= set(drop)

    def _change(self, fn: Callable[..., None], *args: Any) -> bool:
        try:
            fn(*args)
            return True
        except Exception as exc:  # the socket is down: alpaca-py resends on reconnect
            log.warning("%s quotes: subscription change not sent now (%s: %s)", self.name,
                        type(exc).__name__, exc)
            return False

    def _run(self) -> None:
        try:
            self._stream.run()
        except Exception:
            log.exception("%s quote stream ended", self.name)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the stream to stop and wait (bounded) for its thread."""
        stream, thread = self._stream, self._thread
        self._stream, self._thread, self.asked = None, None, set()
        if stream is None or thread is None:
            return
        deadline = time.monotonic() + timeout_s
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                stream.stop()  # AttributeError until its loop has started
                break
            except AttributeError:
                time.sleep(0.01)
            except Exception as exc:
                log.warning("%s quote stream did not stop cleanly: %s", self.name, exc)
                break
        thread.join(max(0.0, deadline - time.monotonic()))


class AlpacaQuoteStream:
    """Streamed quotes of the option contracts and stocks asked for (see the module doc).

    Parameters
    ----------
    api_key, secret_key:
        Alpaca keys (never logged).
    options_feed, stock_feed:
        ``indicative``/``opra`` and ``iex``/``sip``/``delayed_sip``.
    url:
        The market-data websockets' host (tests: the local server); None: Alpaca's.
    strikes, sync_s:
        Strikes each side of the spot to stream, and how often the agent recomputes.
    """

    def __init__(self, api_key: str, secret_key: str, *, options_feed: str = "indicative",
                 stock_feed: str = "iex", url: str | None = None, strikes: int = 3,
                 sync_s: float = 1.0) -> None:
        self.strikes, self.sync_s = strikes, sync_s
        option_url = f"{url}/v1beta1/{options_feed}" if url else None
        stock_url = f"{url}/v2/{stock_feed}" if url else None
        self._options = _Feed("option", lambda: OptionDataStream(
            api_key, secret_key, feed=OptionsFeed(options_feed), url_override=option_url),
            self._on_option)
        self._stocks = _Feed("stock", lambda: StockDataStream(
            api_key, secret_key, feed=DataFeed(stock_feed), url_override=stock_url),
            self._on_stock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._latest: dict[str, StreamedQuote] = {}
        self._ready: asyncio.Event | None = None

    @classmethod
    def from_settings(cls, settings: AlpacaSettings) -> AlpacaQuoteStream:
        """From ``ALPACA_*`` settings."""
        a = settings
        key, secret = credentials(a)
        return cls(key, secret, options_feed=a.options_feed, stock_feed=a.stock_feed,
                   url=a.data_stream_url, strikes=a.stream_strikes, sync_s=a.stream_sync_s)

    @property
    def subscribed(self) -> tuple[set[str], set[str]]:
        """The option contracts and stocks asked for now."""
        return set(self._options.asked), set(self._stocks.asked)

    def _bind(self) -> asyncio.Event:
        if self._ready is None:
            self._loop = asyncio.get_running_loop()
            self._ready = asyncio.Event()
        return self._ready

    async def want(self, options: set[str], stocks: set[str]) -> None:
        """Stream exactly these contracts and stocks from now on; a feed with nothing to
        stream is disconnected (as a worker that stops owning the account must: Alpaca
        allows one connection per feed)."""
        self._bind()
        await asyncio.to_thread(self._options.sync, set(options))
        await asyncio.to_thread(self._stocks.sync, set(stocks))

    async def quotes(self) -> AsyncIterator[StreamedQuote]:
        """The quotes as they arrive (each symbol's latest when the reader fell behind)."""
        ready = self._bind()
        while True:
            await ready.wait()
            ready.clear()
            batch, self._latest = self._latest, {}
            for quote in batch.values():
                yield quote

    async def close(self) -> None:
        """Disconnect both streams."""
        await asyncio.to_thread(self._options.stop)
        await asyncio.to_thread(self._stocks.stop)

    # ---- on the streams' threads --------------------------------------------------------------
    async def _on_option(self, quote: Quote) -> None:
        self._hand_over(streamed(quote, option=True))

    async def _on_stock(self, quote: Quote) -> None:
        self._hand_over(streamed(quote, option=False))

    def _hand_over(self, quote: StreamedQuote) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._keep, quote)

    def _keep(self, quote: StreamedQuote) -> None:
        older = self._latest.get(quote.symbol)
        if older is None or older.at_us <= quote.at_us:
            self._latest[quote.symbol] = quote
        if self._ready is not None:
            self._ready.set()


def streamed(quote: Quote, option: bool) -> StreamedQuote:
    """alpaca-py's streamed ``Quote`` as a :class:`~domain.streamed_quotes.StreamedQuote`
    (checked when it becomes a record: :func:`~domain.streamed_quotes.quote_record`)."""
    return StreamedQuote(quote.symbol, option, float(quote.bid_price), float(quote.ask_price),
                         int(quote.bid_size or 0), int(quote.ask_size or 0),
                         micros(quote.timestamp))
