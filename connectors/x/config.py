"""X's settings: the ingest settings plus X's own ``INGEST_X_*`` keys (the token is never
logged)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from stocktracker.streams.core.settings import IngestSettings, comma_separated


class XSettings(IngestSettings):
    """The filtered stream (API v2): token, rule keywords and the author filters."""

    x_bearer_token: SecretStr | None = None
    x_keywords: Annotated[tuple[str, ...], NoDecode] = ("0DTE", "options", "calls", "puts")
    x_min_followers: int = Field(default=0, ge=0)
    x_verified_only: bool = False
    x_min_engagement: int = Field(default=0, ge=0, description="likes + 2 reposts + replies.")
    x_base_url: str | None = Field(default=None, description="API host override (tests).")

    _split_keywords = field_validator("x_keywords", mode="before")(comma_separated)
