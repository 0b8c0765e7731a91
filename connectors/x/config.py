"""X's settings: the ingest settings plus X's own ``INGEST_X_*`` keys (the token is never
logged)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from streams.core.settings import IngestSettings


class XSettings(IngestSettings):
    """The filtered stream (API v2): token, rule keywords and the author filters."""

    x_bearer_token: SecretStr | None = None
    x_keywords: Annotated[tuple[str, ...], NoDecode] = ("0DTE", "options", "calls", "puts")
    x_min_followers: int = Field(default=0, ge=0)
    x_verified_only: bool = False
    x_min_engagement: int = Field(default=0, ge=0, description="likes + 2 reposts + replies.")
    x_base_url: str | None = Field(default=None, description="API host override (tests).")

    @field_validator("x_keywords", mode="before")
    @classmethod
    def _split_keywords(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value
