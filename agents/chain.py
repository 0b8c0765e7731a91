"""Chain agent: the option chain refreshed from the broker's market data, ahead of time.

Only with a chain source (``TRADING_BROKER=alpaca``; the simulated market publishes its
own quotes). Every ``ALPACA_CHAIN_REFRESH_S`` a task asks the source, per ticker of
``SIGNAL_TICKERS``, for the underlying's latest quote and today's chain (the nearest later
expiry when none lists today and ``TRADING_NEAREST_EXPIRY`` allows it) and publishes them
as ``Quote`` records; the market agent files them in the quote table, which is the cache
the execute and exits agents read. The hot path never waits on a download: a failed
refresh is logged and the last chain stays, guarded by the stale-quote check.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from stocktracker.connectors.broker import ChainSource
from stocktracker.domain.contracts import new_york_date

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)


async def refresh(p: AgentHost, source: ChainSource, underlying: str) -> int:
    """Fetch and publish one underlying's quote and chain; returns the contracts published.

    The expiry asked for is the New York date of the underlying's quote: the session the
    market data belongs to (today, live; the recorded day against a replaying server).
    """
    spot = await source.underlying_quote(underlying)
    await p.send(p.topics.quotes, "Quote", underlying, spot)
    day = new_york_date(spot["event_time"])
    mid = (spot["bid"] + spot["ask"]) / 2
    chain = await source.fetch(underlying, day, mid)
    if not chain and p.trading_rules.contract.allow_later_expiry:
        later = await source.nearest_expiry(underlying, day)
        if later is not None:
            chain = await source.fetch(underlying, later, mid)
    for quote in chain:
        await p.send(p.topics.quotes, "Quote", underlying, quote.to_record(underlying))
    return len(chain)


def register(p: AgentHost) -> None:
    """Register the refresh task when the pipeline has a chain source."""
    source: ChainSource | None = getattr(p, "chain_source", None)
    if source is None:
        return
    interval = source.refresh_s
    tickers = p.settings.signal.tickers

    @p.app.task
    async def refresh_chains() -> None:
        try:
            await refresh_forever(p, source, tickers, interval)
        finally:
            await source.close()


async def refresh_forever(p: AgentHost, source: ChainSource, tickers: tuple[str, ...],
                          interval: float) -> None:
    """Refresh every ticker's chain, then wait ``interval`` seconds; until cancelled."""
    while True:
        for underlying in tickers if p.ownership.owns() else ():  # the owner's cache only
            try:
                count = await refresh(p, source, underlying)
                log.info("chain of %s: %d contracts", underlying, count)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the last chain; the stale-quote check guards it
                log.warning("chain refresh of %s failed: %s", underlying, exc)
        await asyncio.sleep(interval)
