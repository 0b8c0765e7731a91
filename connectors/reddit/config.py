"""Reddit's settings: the ingest settings plus Reddit's own ``INGEST_REDDIT_*`` keys (the
secret is never logged)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from stocktracker.streams.core.settings import IngestSettings, comma_separated


class RedditSettings(IngestSettings):
    """The app's credentials, the subreddits and the score filter (asyncpraw)."""

    reddit_client_id: str | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_user_agent: str = "stock-tracker/0.1 (sentiment research)"
    reddit_subreddits: Annotated[tuple[str, ...], NoDecode] = (
        "wallstreetbets", "options", "stocks", "StockMarket")
    reddit_comments: bool = Field(default=True, description="Stream comments too.")
    reddit_min_score: int = Field(default=0)
    reddit_oauth_url: str | None = Field(default=None, description="Override (tests).")
    reddit_url: str | None = Field(default=None, description="Override (tests).")

    _split_subreddits = field_validator("reddit_subreddits", mode="before")(comma_separated)
