"""X's part: the filtered-stream source, when ``INGEST_X_BEARER_TOKEN`` is set."""

from __future__ import annotations

from stocktracker.connectors.base import Source
from stocktracker.connectors.venue import Venue
from stocktracker.connectors.x.config import XSettings
from stocktracker.streams.core.settings import Settings


def make_source(settings: Settings) -> Source | None:
    """The X source for the traded tickers, or None without a token."""
    from stocktracker.connectors.x.source import x_source

    return x_source(XSettings(), tuple(settings.signal.tickers))


VENUE = Venue("x", settings=(XSettings,), source=make_source, needs="set INGEST_X_BEARER_TOKEN")
