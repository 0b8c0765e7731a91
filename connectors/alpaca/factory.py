"""Alpaca's parts: the broker (paper unless live) and the option chain's market data."""

from __future__ import annotations

import logging

from stocktracker.connectors.alpaca.config import AlpacaSettings
from stocktracker.connectors.broker import Broker, ChainSource, QuoteStream
from stocktracker.connectors.venue import Venue
from stocktracker.streams.core.settings import Settings

log = logging.getLogger(__name__)


def make_broker(settings: Settings, live: bool) -> Broker:
    """The Alpaca account of ``ALPACA_*``: paper unless ``live``."""
    from stocktracker.connectors.alpaca.broker import AlpacaBroker

    log.warning("trading through Alpaca, %s account", "LIVE" if live else "paper")
    return AlpacaBroker.from_settings(AlpacaSettings(), live=live)


def make_chain(settings: Settings, live: bool) -> ChainSource:
    """Alpaca's option contracts and snapshots for the chain cache."""
    from stocktracker.connectors.alpaca.chain import AlpacaChain

    return AlpacaChain.from_settings(AlpacaSettings(), live=live)


def make_quote_stream(settings: Settings, live: bool) -> QuoteStream | None:
    """Streamed quotes of the held and near-the-money contracts and of the underlyings
    (None with ``ALPACA_STREAM_QUOTES=false``: the REST refresh alone)."""
    from stocktracker.connectors.alpaca.quote_stream import AlpacaQuoteStream

    alpaca = AlpacaSettings()
    return AlpacaQuoteStream.from_settings(alpaca) if alpaca.stream_quotes else None


VENUE = Venue("alpaca", settings=(AlpacaSettings,), broker=make_broker, chain=make_chain,
              quotes=make_quote_stream, live=True)
