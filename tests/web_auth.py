"""The dashboard token the web tests sign in with (kept out of the shipped package)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from stocktracker.streams.core.settings import Settings, WebSettings

TOKEN = "test-token-0123456789abcdef"


def web_settings(**web: Any) -> Settings:
    """Settings with :data:`TOKEN` as the dashboard token unless told otherwise."""
    web.setdefault("token", SecretStr(TOKEN))
    return Settings(web=WebSettings(**web))
