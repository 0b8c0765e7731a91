"""What a venue offers: its settings, and a factory for each part it has.

A venue is one folder under ``connectors/`` (its config, factory, data and execution
parts) and one line in :mod:`streams.venues`. A factory reads the venue's own settings
from the environment itself, so nothing below the venue has to know them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic_settings import BaseSettings

from stocktracker.connectors.base import Source
from stocktracker.connectors.broker import Broker, ChainSource, QuoteStream
from stocktracker.streams.core.settings import Settings


@dataclass(frozen=True)
class Venue:
    """One venue's parts; a part it does not have is None.

    ``broker(settings, live)`` and ``chain(settings, live)`` build the execution and the
    market-data parts, ``quotes(settings, live)`` its streamed quotes (None when turned
    off); ``source(settings)`` an ingest source, or None without credentials
    (``needs`` then says what to set). ``live`` says whether it can trade a live account.
    """

    name: str
    settings: tuple[type[BaseSettings], ...] = ()
    broker: Callable[[Settings, bool], Broker] | None = None
    chain: Callable[[Settings, bool], ChainSource] | None = None
    quotes: Callable[[Settings, bool], QuoteStream | None] | None = None
    source: Callable[[Settings], Source | None] | None = None
    live: bool = False
    needs: str = ""
