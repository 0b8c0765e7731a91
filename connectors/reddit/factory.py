"""Reddit's part: the subreddit source, when the app's id and secret are set."""

from __future__ import annotations

from stocktracker.connectors.base import Source
from stocktracker.connectors.reddit.config import RedditSettings
from stocktracker.connectors.venue import Venue
from stocktracker.streams.core.settings import Settings


def make_source(settings: Settings) -> Source | None:
    """The Reddit source for the traded tickers, or None without credentials."""
    from stocktracker.connectors.reddit.source import reddit_source

    return reddit_source(RedditSettings(), tuple(settings.signal.tickers))


VENUE = Venue("reddit", settings=(RedditSettings,), source=make_source,
              needs="set INGEST_REDDIT_CLIENT_ID and INGEST_REDDIT_CLIENT_SECRET")
