"""A local stand-in for Reddit's OAuth API, for tests and demos.

It answers in Reddit's own shapes, so the real ``asyncpraw`` client talks to it unchanged
(``reddit_url`` and ``oauth_url`` point here):

- ``POST /api/v1/access_token``: application-only OAuth (HTTP Basic with the app's id and
  secret, ``grant_type=client_credentials``) answered with a bearer token;
- ``GET /r/{a+b+c}/new`` and ``GET /r/{a+b+c}/comments``: ``Listing`` of ``t3`` / ``t1``
  children, newest first, honouring ``limit`` and ``before``, with the
  ``x-ratelimit-used/remaining/reset`` headers of a 600 s window of ``requests_per_window``
  (Reddit's free tier: 100 a minute; asyncprawcore spreads requests evenly over it, so
  tests raise it).

Faults are a queue consumed one per listing request (``faults``): ``"429"`` (rate limit
spent: remaining 0, reset after ``rate_reset_s``, a JSON body), ``"429html"`` (as Reddit has
also answered it: an HTML page, ``Retry-After`` in whole seconds, no rate-limit headers),
``"500"``, ``"exhausted"`` (a normal answer announcing remaining 0 until ``rate_reset_s``),
``"malformed"`` (one broken child added to the answer). A listing request without a valid
token is answered 401 with ``www-authenticate: Bearer realm="reddit", error="invalid_token"``,
as Reddit does (asyncprawcore picks ``InvalidToken`` from that header). Every request is kept in ``requests``.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from stocktracker.connectors.simulated.serving import LocalServer

Payload = dict[str, Any]
WINDOW_S = 600


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"

TOO_MANY_HTML = ("<!doctype html><html><head><title>Too Many Requests</title></head><body>"
                 "<h1>whoa there, pardner!</h1><p>we're sorry, but you appear to be a bot and "
                 "we've seen too many requests from you lately.</p></body></html>")


@dataclass
class FakeRedditServer(LocalServer):
    """One aiohttp server with Reddit's OAuth and listing endpoints on a loopback port.

    Use ``async with FakeRedditServer() as server``; ``server.url`` is both
    ``INGEST_REDDIT_URL`` and ``INGEST_REDDIT_OAUTH_URL``.
    """

    client_id: str = "local-client-id"
    client_secret: str = "local-client-secret"
    faults: list[str] = field(default_factory=list)
    rate_reset_s: int = 1
    requests_per_window: int = 1000
    requests: list[Payload] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    port: int = 0
    _things: list[Payload] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(36**5))
    _window_start: float = field(default_factory=time.time)
    _used: int = 0

    def listings(self, kind: str = "") -> list[Payload]:
        """The listing requests received (``kind``: ``new`` or ``comments``; all if empty)."""
        return [r for r in self.requests if r["path"].startswith("/r/")
                and (not kind or r["path"].endswith("/" + kind))]

    def submit(self, subreddit: str, title: str, selftext: str = "", *, author: str = "poster",
               score: int = 1, num_comments: int = 0, flair: str | None = None,
               created_utc: float | None = None) -> str:
        """Post a submission; returns its fullname (``t3_...``)."""
        sid = _base36(next(self._ids))
        slug = "_".join(title.lower().split()[:6])
        self._things.append({"kind": "t3", "data": {
            "id": sid, "name": f"t3_{sid}", "title": title, "selftext": selftext,
            "author": author, "subreddit": subreddit, "subreddit_name_prefixed": f"r/{subreddit}",
            "score": score, "ups": score, "num_comments": num_comments,
            "link_flair_text": flair, "created_utc": created_utc or time.time(),
            "permalink": f"/r/{subreddit}/comments/{sid}/{slug}/", "is_self": True,
            "url": f"https://www.reddit.com/r/{subreddit}/comments/{sid}/{slug}/",
            "over_18": False, "stickied": False,
        }})
        return f"t3_{sid}"

    def comment(self, subreddit: str, body: str, parent: str, *, author: str = "commenter",
                score: int = 1, flair: str | None = None, created_utc: float | None = None) -> str:
        """Comment on ``parent`` (a ``t3_`` or ``t1_`` fullname); returns the comment's fullname."""
        cid = _base36(next(self._ids))
        link = parent if parent.startswith("t3_") else next(
            (t["data"]["link_id"] for t in self._things if t["data"].get("name") == parent), parent)
        self._things.append({"kind": "t1", "data": {
            "id": cid, "name": f"t1_{cid}", "body": body, "author": author,
            "subreddit": subreddit, "score": score, "parent_id": parent, "link_id": link,
            "author_flair_text": flair, "created_utc": created_utc or time.time(),
            "permalink": f"/r/{subreddit}/comments/{link[3:]}/comment/{cid}/",
            "replies": "", "stickied": False,
        }})
        return f"t1_{cid}"

    def add_raw(self, child: Payload) -> None:
        """Store any child as is (it stays in its listing, like a real post)."""
        self._things.append(child)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/access_token", self._token)
        app.router.add_get("/r/{subreddits}/{listing:new|comments}", self._listing)
        return app

    # ---- requests ----------------------------------------------------------------------
    def _log(self, request: web.Request, form: Payload | None = None) -> None:
        self.requests.append({"method": request.method, "path": request.path,
                              "query": dict(request.query), "form": form or {},
                              "authorization": request.headers.get("Authorization", ""),
                              "at": time.time()})

    def _rate_headers(self, exhausted: bool = False) -> dict[str, str]:
        now = time.time()
        if now - self._window_start >= WINDOW_S:
            self._window_start, self._used = now, 0
        self._used += 1
        if exhausted:
            return {"x-ratelimit-used": str(self._used), "x-ratelimit-remaining": "0.0",
                    "x-ratelimit-reset": str(self.rate_reset_s)}
        reset = max(1, int(self._window_start + WINDOW_S - now))
        return {"x-ratelimit-used": str(self._used),
                "x-ratelimit-remaining": f"{max(0, self.requests_per_window - self._used):.1f}",
                "x-ratelimit-reset": str(reset)}

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self._log(request, {k: str(v) for k, v in form.items()})
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(24)
        self.tokens.append(token)
        return web.json_response({"access_token": token, "token_type": "bearer",
                                  "expires_in": 86400, "scope": "*"})

    async def _listing(self, request: web.Request) -> web.Response:
        self._log(request)
        if request.headers.get("Authorization") not in {f"bearer {t}" for t in self.tokens}:
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401,
                                     headers={**self._rate_headers(), "www-authenticate":
                                              'Bearer realm="reddit", error="invalid_token"'})
        fault = self.faults.pop(0) if self.faults else None
        if fault == "429":
            return web.json_response({"message": "Too Many Requests", "error": 429}, status=429,
                                     headers=self._rate_headers(exhausted=True))
        if fault == "429html":
            return web.Response(status=429, text=TOO_MANY_HTML, content_type="text/html",
                                headers={"Retry-After": str(self.rate_reset_s)})
        if fault == "500":
            return web.json_response({"message": "Internal Server Error", "error": 500}, status=500,
                                     headers=self._rate_headers())
        subreddits = {s.lower() for s in request.match_info["subreddits"].split("+")}
        kind = "t3" if request.match_info["listing"] == "new" else "t1"
        things = [t for t in reversed(self._things)
                  if t.get("kind") == kind and str(t["data"].get("subreddit", "")).lower() in subreddits]
        limit = max(1, min(100, int(request.query.get("limit", "25"))))
        before = request.query.get("before")
        if before:
            names = [t["data"].get("name") for t in things]
            newer = things[:names.index(before)] if before in names else []
            children = newer[-limit:]
        else:
            children = things[:limit]
        if fault == "malformed":
            children = [{"kind": kind, "data": {"title": "no id, no author", "created_utc": "soon"}},
                        *children]
        return web.json_response({"kind": "Listing", "data": {
            "after": children[-1]["data"].get("name") if children else None, "before": None,
            "dist": len(children), "modhash": "", "geo_filter": "", "children": children,
        }}, headers=self._rate_headers(exhausted=fault == "exhausted"))
