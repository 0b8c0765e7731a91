"""The venues, one line each, and the choices made from them at start-up.

Paper is the default. Live trading needs both ``TRADING_MODE=live`` and the worker's
``--live`` flag, on a venue that has a live account; anything less is refused at start-up
with a message saying what is missing, so a stray setting or a stray flag can never send a
live order.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_settings import BaseSettings

from stocktracker.connectors.alpaca.factory import VENUE as ALPACA
from stocktracker.connectors.base import Source
from stocktracker.connectors.broker import Broker, ChainSource, QuoteStream
from stocktracker.connectors.reddit.factory import VENUE as REDDIT
from stocktracker.connectors.simulated.factory import VENUE as SIMULATED
from stocktracker.connectors.venue import Venue
from stocktracker.connectors.x.factory import VENUE as X
from stocktracker.streams.core.settings import Settings

VENUES: dict[str, Venue] = {v.name: v for v in (SIMULATED, ALPACA, X, REDDIT)}
VENUE_SETTINGS: tuple[type[BaseSettings], ...] = tuple(
    dict.fromkeys(s for v in VENUES.values() for s in v.settings))


class LiveTradingRefused(RuntimeError):
    """Live trading was asked for by only one of the two switches, or on a venue without
    a live account."""


class UnknownVenue(ValueError):
    """A setting names a venue that is not in :data:`VENUES`, or one without that part."""


def _trading_venue(settings: Settings) -> Venue:
    venue = VENUES.get(settings.trading.broker)
    if venue is None or venue.broker is None:
        brokers = ", ".join(n for n, v in VENUES.items() if v.broker)
        raise UnknownVenue(f"TRADING_BROKER={settings.trading.broker!r} is not a broker ({brokers})")
    return venue


def check_live(settings: Settings, live: bool) -> bool:
    """True for live trading; raises when only one of the two switches is on, or when the
    venue has no live account (and :class:`UnknownVenue` for a venue that does not exist)."""
    mode = settings.trading.mode
    venue = _trading_venue(settings)
    if live and mode != "live":
        raise LiveTradingRefused("--live given but TRADING_MODE is not live: refusing to trade live")
    if mode == "live" and not live:
        raise LiveTradingRefused("TRADING_MODE=live needs the --live flag too: refusing to start")
    if live and not venue.live:
        able = " or ".join(n for n, v in VENUES.items() if v.live)
        raise LiveTradingRefused(f"live trading needs TRADING_BROKER={able}")
    return live


def make_broker(settings: Settings, live: bool = False) -> Broker:
    """The broker of ``TRADING_BROKER`` (paper unless :func:`check_live` says live)."""
    is_live = check_live(settings, live)
    factory = _trading_venue(settings).broker
    assert factory is not None
    return factory(settings, is_live)


def make_chain_source(settings: Settings, live: bool = False) -> ChainSource | None:
    """The trading venue's market data for the chain cache, or None where it has none (the
    simulated market publishes its own quotes)."""
    factory = _trading_venue(settings).chain
    return factory(settings, live) if factory else None


def make_quote_stream(settings: Settings, live: bool = False) -> QuoteStream | None:
    """The trading venue's streamed quotes, or None where it has none or they are off."""
    factory = _trading_venue(settings).quotes
    return factory(settings, live) if factory else None


def build_sources(settings: Settings, names: Sequence[str]) -> tuple[list[Source], list[str]]:
    """The sources named that have credentials, and a message for each one skipped."""
    made: list[Source] = []
    skipped: list[str] = []
    for name in dict.fromkeys(names):
        venue = VENUES.get(name)
        if venue is None or venue.source is None:
            known = ", ".join(n for n, v in VENUES.items() if v.source)
            skipped.append(f"{name}: skipped, unknown source ({known})")
            continue
        source = venue.source(settings)
        if source is None:
            skipped.append(f"{name}: skipped, no credentials ({venue.needs})")
        else:
            made.append(source)
    return made, skipped
