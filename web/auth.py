"""Who may see and who may command: the token, read-only opening, and allowed origins.

The token is a bearer token (``Authorization: Bearer <token>`` on REST, ``auth.token`` in
the Socket.IO handshake), compared in constant time. It is never logged, never rendered
and never sent back.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from stocktracker.streams.core.settings import WebSettings


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, if that is what it is."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def token_matches(presented: object, token: SecretStr | None) -> bool:
    """Whether ``presented`` is the configured token (False when none is configured)."""
    if token is None or not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(presented.encode(), token.get_secret_value().encode())


def may_view(web: WebSettings, presented: object) -> bool:
    """Read-only views and events: open by setting, else the token."""
    return web.read_only_open or token_matches(presented, web.token)


def may_control(web: WebSettings, presented: object) -> bool:
    """Control commands: always the token."""
    return token_matches(presented, web.token)


def own_origin(environ: Mapping[str, Any]) -> str | None:
    """The origin the page itself was served from (scheme and Host header)."""
    host = environ.get("HTTP_HOST")
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}" if host else None


def origin_allowed(origin: str | None, environ: Mapping[str, Any], allowed: tuple[str, ...]) -> bool:
    """No Origin (not a browser's cross-site call), the page's own, or a configured one."""
    if not origin:
        return True
    origin = origin.rstrip("/")
    return origin == own_origin(environ) or origin in allowed


def check_settings(web: WebSettings) -> None:
    """Refuse a dashboard nobody could use safely: no token and views not opened."""
    if web.token is None and not web.read_only_open:
        raise ValueError("set WEB_TOKEN (control and views), or WEB_READ_ONLY_OPEN=true for views "
                         "only (control stays off without a token)")
    if web.token is not None and len(web.token.get_secret_value()) < 16:
        raise ValueError("WEB_TOKEN must be at least 16 characters")
