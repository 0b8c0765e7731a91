"""Live-quotes agent: streamed quotes of the contracts that cannot wait for the refresh.

Only with a quote stream (``TRADING_BROKER=alpaca`` and ``ALPACA_STREAM_QUOTES``, on by
default). Every ``ALPACA_STREAM_SYNC_S`` the owner of the account computes what to stream
(:func:`domain.streamed_quotes.streamed_contracts`): the contracts held, the calls and puts
of the ``ALPACA_STREAM_STRIKES`` strikes each side of the spot in the cached chain, and each
ticker of ``SIGNAL_TICKERS``; the stream follows (a worker that is not the owner streams
nothing, so the owner's connection is the only one, as Alpaca allows). Each streamed quote
is published on ``quotes`` as a ``Quote`` record at the quote's own time, with the
contract's terms from the quote table, so the market agent, the exits and the stale-quote
checks take it as they take the REST refresh's (:mod:`agents.chain`), which goes on for the
whole chain and for whatever the stream misses while it is down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from stocktracker.connectors.broker import QuoteStream
from stocktracker.domain.streamed_quotes import BadStreamedQuote, quote_record, streamed_contracts

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)


def register(p: AgentHost) -> None:
    """Register the streaming task when the pipeline has a quote stream."""
    stream = p.quote_stream
    if stream is None:
        return
    tickers = p.settings.signal.tickers

    @p.app.task
    async def stream_quotes() -> None:
        try:
            await asyncio.gather(follow(p, stream, tickers), publish(p, stream))
        finally:
            await stream.close()


def wanted(p: AgentHost, tickers: tuple[str, ...], strikes: int) -> set[str]:
    """The option contracts to stream now: held, and near the money in the cached chains."""
    held = p.open_positions.all() if p.open_positions is not None else []
    if p.chain_index is None:
        return set(held)
    chains = {u: p.chain_index.chain(u) for u in tickers}
    spots = {u: p.tables.quotes.get(u) for u in tickers}
    return streamed_contracts(held, chains, spots, strikes)


async def follow(p: AgentHost, stream: QuoteStream, tickers: tuple[str, ...]) -> None:
    """Keep the stream's subscriptions on what :func:`wanted` says; until cancelled."""
    while True:
        try:
            if p.ownership.owns():
                await stream.want(wanted(p, tickers, stream.strikes), set(tickers))
            else:
                await stream.want(set(), set())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the REST refresh still runs; try again next time
            log.warning("quote stream subscriptions not updated: %s", exc)
        await asyncio.sleep(stream.sync_s)


async def publish(p: AgentHost, stream: QuoteStream) -> None:
    """Each streamed quote onto ``quotes``, keyed by its underlying; until cancelled."""
    async for quote in stream.quotes():
        try:
            cached = p.tables.quotes.get(quote.symbol) if quote.option else None
            record = quote_record(quote, cached)
            await p.send(p.topics.quotes, "Quote", record["underlying"], record)
        except asyncio.CancelledError:
            raise
        except BadStreamedQuote as exc:
            log.warning("streamed quote refused: %s", exc)
        except Exception as exc:  # a send that failed: the next quote (or refresh) follows
            log.warning("streamed quote of %s not published: %s", quote.symbol, exc)
