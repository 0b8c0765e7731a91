"""A local stand-in for X's API v2 filtered stream, for tests and demos.

It answers in X's own shapes (API v2.167's OpenAPI spec: ``tests/resources/x/``), so the
real ``tweepy`` client talks to it unchanged (only the host differs, see
:mod:`connectors.x.source`):

- ``GET /2/tweets/search/stream/rules``: ``{"data": [{"id", "value", "tag"}], "meta": {"sent",
  "result_count"}}``;
- ``POST /2/tweets/search/stream/rules``: ``{"add": [...]}`` or ``{"delete": {"ids": [...]}}``,
  answered with ``data``, ``meta.summary`` and ``errors`` (duplicate values refused as X does);
- ``GET /2/tweets/search/stream``: a long-lived chunked response, one JSON object per line
  (``{"data", "includes": {"users"}, "matching_rules"}``), ``\\r\\n`` keep-alives between.

Field selection is X's: a post carries only ``id``, ``text`` and ``edit_history_tweet_ids``
unless the connection's ``tweet.fields`` asks for more, ``includes.users`` comes only with
``expansions=author_id`` (its users with ``id``, ``name``, ``username`` and what
``user.fields`` asks for). :meth:`FakeXServer.tweet` builds the whole post; each stream gets
what its query selects (:func:`select_fields`). A field name X does not know is answered
with 400 ``invalid-request``. Engagement counts have today's names (``repost_count``,
``post_count``); ``legacy_metrics=True`` sends the old ``retweet_count`` / ``tweet_count``.

Faults are a queue consumed one per stream connection (``stream_faults``) or per rules
request (``rules_faults``): ``"429"`` (with ``x-rate-limit-*`` headers, reset after
``rate_reset_s``; each reset announced is kept in ``resets``), ``"503"``.
:meth:`FakeXServer.drop` cuts every open stream mid-response.
Every request is kept in ``requests`` (method, path, query, JSON body, ``at``: wall-clock time).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from stocktracker.connectors.simulated.serving import LocalServer

Payload = dict[str, Any]
_DROP = b"__drop__"
_END = b"__end__"

# X's own field names (API v2.167, the filtered stream's query parameters).
TWEET_FIELDS = frozenset((
    "article", "attachments", "author_id", "card_uri", "community_id", "context_annotations",
    "conversation_id", "created_at", "display_text_range", "edit_controls",
    "edit_history_tweet_ids", "entities", "geo", "id", "in_reply_to_user_id", "lang",
    "matched_media_notes", "media_metadata", "non_public_metrics", "note_request_suggestions",
    "note_tweet", "organic_metrics", "paid_partnership", "possibly_sensitive",
    "promoted_metrics", "public_metrics", "referenced_tweets", "reply_settings", "scopes",
    "source", "suggested_source_links", "suggested_source_links_with_counts", "text",
    "withheld"))
USER_FIELDS = frozenset((
    "affiliation", "confirmed_email", "connection_status", "created_at", "description",
    "entities", "id", "is_identity_verified", "location", "most_recent_tweet_id", "name",
    "parody", "pinned_tweet_id", "profile_banner_url", "profile_image_url", "protected",
    "public_metrics", "receives_your_dm", "subscription", "subscription_type", "url",
    "username", "verified", "verified_followers_count", "verified_type", "withheld"))
EXPANSIONS = frozenset((
    "article.cover_media", "article.media_entities", "attachments.media_keys",
    "attachments.media_source_tweet", "attachments.poll_ids", "author_id",
    "edit_history_tweet_ids", "entities.mentions.username", "geo.place_id",
    "in_reply_to_user_id", "entities.note.mentions.username", "referenced_tweets.id",
    "referenced_tweets.id.attachments.media_keys", "referenced_tweets.id.author_id"))
DEFAULT_TWEET_FIELDS = ("id", "text", "edit_history_tweet_ids")
DEFAULT_USER_FIELDS = ("id", "name", "username")
_KNOWN = {"tweet.fields": TWEET_FIELDS, "user.fields": USER_FIELDS, "expansions": EXPANSIONS}


def _sent() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _problem(status: int, title: str) -> Payload:
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def _listed(query: Any, name: str) -> list[str]:
    return [v for v in str(query.get(name, "")).split(",") if v]


def unknown_fields(query: Any) -> tuple[str, str] | None:
    """The first ``(parameter, value)`` of ``query`` naming a field X does not know."""
    for name, known in _KNOWN.items():
        for value in _listed(query, name):
            if value not in known:
                return name, value
    return None


def select_fields(message: Payload, query: Any) -> Payload:
    """``message`` (a whole stream message) as X sends it for a connection's ``query``.

    The post keeps its default fields, those ``tweet.fields`` names and the fields the
    ``expansions`` name; ``includes.users`` only with ``expansions=author_id``, each user
    with its default fields and those ``user.fields`` names. ``matching_rules`` always
    comes; a message without a ``data`` object (an ``errors`` notice) goes unchanged.
    """
    data = message.get("data")
    if not isinstance(data, dict):
        return message
    expansions = set(_listed(query, "expansions"))
    wanted = {*DEFAULT_TWEET_FIELDS, *_listed(query, "tweet.fields"), *expansions}
    selected: Payload = {"data": {k: v for k, v in data.items() if k in wanted}}
    includes = message.get("includes")
    if "author_id" in expansions and isinstance(includes, dict) and includes.get("users"):
        user_fields = {*DEFAULT_USER_FIELDS, *_listed(query, "user.fields")}
        selected["includes"] = {"users": [{k: v for k, v in user.items() if k in user_fields}
                                          for user in includes["users"]]}
    if "matching_rules" in message:
        selected["matching_rules"] = message["matching_rules"]
    return selected


@dataclass
class FakeXServer(LocalServer):
    """One aiohttp server with X's filtered-stream endpoints on a loopback port.

    Use ``async with FakeXServer() as server``; ``server.url`` is the API host to give the
    client (``INGEST_X_BASE_URL``; ``https://api.twitter.com`` in production).
    """

    bearer_token: str = "local-bearer-token"
    legacy_metrics: bool = False
    rules: list[Payload] = field(default_factory=list)
    stream_faults: list[str] = field(default_factory=list)
    rules_faults: list[str] = field(default_factory=list)
    heartbeat_s: float = 0.2
    rate_reset_s: float = 1.0
    requests: list[Payload] = field(default_factory=list)
    resets: list[int] = field(default_factory=list)
    port: int = 0
    _streams: list[asyncio.Queue[bytes | Payload]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_790_000_000_000_000_001))

    @property
    def connected(self) -> int:
        """How many stream connections are open now."""
        return len(self._streams)

    def count(self, path: str, method: str = "GET") -> int:
        """How many ``method`` requests went to exactly ``path``."""
        return sum(1 for r in self.requests if r["path"] == path and r["method"] == method)

    def add_rule(self, value: str, tag: str | None = None) -> str:
        """Set a rule directly (as if another client had added it); returns its id."""
        rule: Payload = {"id": str(next(self._ids)), "value": value}
        if tag is not None:
            rule["tag"] = tag
        self.rules.append(rule)
        return str(rule["id"])

    def tweet(self, text: str, username: str, *, tweet_id: str | None = None,
              followers: int = 100, verified: bool = False, likes: int = 0, reposts: int = 0,
              replies: int = 0, cashtags: tuple[str, ...] = (), lang: str = "en",
              created_at: str | None = None, tags: tuple[str, ...] | None = None,
              legacy_metrics: bool | None = None) -> Payload:
        """A stream message for one post, with every field this server knows.

        Each stream is sent what its query selects (:func:`select_fields`). ``tags``: the
        rules it matched, by tag (default: every rule set now). ``legacy_metrics``: the
        counts under their old names, ``retweet_count`` and ``tweet_count`` (default: the
        server's ``legacy_metrics``).
        """
        legacy = self.legacy_metrics if legacy_metrics is None else legacy_metrics
        tweet_id = tweet_id or str(next(self._ids))
        author_id = str(abs(hash(username)) % 10**12)
        entities = {"cashtags": [{"start": text.find("$" + c), "end": text.find("$" + c) + len(c) + 1,
                                  "tag": c} for c in cashtags]} if cashtags else {}
        matching = [{"id": r["id"], "tag": r.get("tag", "")} for r in self.rules
                    if tags is None or r.get("tag") in tags]
        return {
            "data": {
                "id": tweet_id, "text": text, "author_id": author_id, "lang": lang,
                "created_at": created_at or _sent(), "conversation_id": tweet_id,
                "edit_history_tweet_ids": [tweet_id],
                "public_metrics": {"retweet_count" if legacy else "repost_count": reposts,
                                   "reply_count": replies,
                                   "like_count": likes, "quote_count": 0,
                                   "bookmark_count": 0, "impression_count": 0},
                **({"entities": entities} if entities else {}),
            },
            "includes": {"users": [{
                "id": author_id, "name": username.title(), "username": username,
                "verified": verified,
                "public_metrics": {"followers_count": followers, "following_count": 10,
                                   "tweet_count" if legacy else "post_count": 1000,
                                   "listed_count": 1, "like_count": 5},
            }]},
            "matching_rules": matching,
        }

    async def push(self, message: Payload | bytes) -> int:
        """Send a message to every open stream: a dict (each stream gets the fields its
        query selects), or raw bytes as they are (a malformed line).

        Returns how many streams it went to (0: it was lost, as on X).
        """
        for queue in self._streams:
            await queue.put(message)
        return len(self._streams)

    async def drop(self) -> int:
        """Cut every open stream mid-response (the client sees a broken chunked body)."""
        streams = list(self._streams)
        for queue in streams:
            await queue.put(_DROP)
        return len(streams)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/2/tweets/search/stream/rules", self._get_rules)
        app.router.add_post("/2/tweets/search/stream/rules", self._post_rules)
        app.router.add_get("/2/tweets/search/stream", self._stream)
        return app

    async def __aexit__(self, *exc: object) -> None:
        for queue in list(self._streams):
            queue.put_nowait(_END)
        await super().__aexit__(*exc)

    # ---- requests ----------------------------------------------------------------------
    async def _begin(self, request: web.Request, faults: list[str]) -> web.Response | None:
        body = await request.json() if request.can_read_body else None
        self.requests.append({"method": request.method, "path": request.path,
                              "query": dict(request.query), "json": body,
                              "at": time.time()})
        if request.headers.get("Authorization") != f"Bearer {self.bearer_token}":
            return web.json_response(_problem(401, "Unauthorized"), status=401)
        fault = faults.pop(0) if faults else None
        if fault == "429":
            reset = int(time.time() + self.rate_reset_s)
            self.resets.append(reset)
            return web.json_response(_problem(429, "Too Many Requests"), status=429, headers={
                "x-rate-limit-limit": "50", "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(reset)})
        if fault == "503":
            return web.json_response(_problem(503, "Service Unavailable"), status=503)
        return None

    async def _get_rules(self, request: web.Request) -> web.Response:
        refused = await self._begin(request, self.rules_faults)
        if refused is not None:
            return refused
        meta = {"sent": _sent(), "result_count": len(self.rules)}
        return web.json_response({"data": list(self.rules), "meta": meta} if self.rules
                                 else {"meta": meta})

    async def _post_rules(self, request: web.Request) -> web.Response:
        refused = await self._begin(request, self.rules_faults)
        if refused is not None:
            return refused
        body = self.requests[-1]["json"] or {}
        if "delete" in body:
            ids = [str(i) for i in body["delete"].get("ids", [])]
            before = len(self.rules)
            self.rules = [r for r in self.rules if r["id"] not in ids]
            deleted = before - len(self.rules)
            return web.json_response({"meta": {"sent": _sent(), "summary": {
                "deleted": deleted, "not_deleted": len(ids) - deleted}}})
        created: list[Payload] = []
        errors: list[Payload] = []
        for rule in body.get("add", []):
            twin = next((r for r in self.rules if r["value"] == rule["value"]), None)
            if twin is not None:
                errors.append({"value": rule["value"], "id": twin["id"], "title": "DuplicateRule",
                               "type": "https://api.twitter.com/2/problems/duplicate-rules"})
                continue
            new = {"id": str(next(self._ids)), **rule}
            self.rules.append(new)
            created.append(new)
        answer: Payload = {"meta": {"sent": _sent(), "summary": {
            "created": len(created), "not_created": len(errors),
            "valid": len(created), "invalid": len(errors)}}}
        if created:
            answer["data"] = created
        if errors:
            answer["errors"] = errors
        return web.json_response(answer)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        refused = await self._begin(request, self.stream_faults)
        if refused is not None:
            return refused
        unknown = unknown_fields(request.query)
        if unknown is not None:
            name, value = unknown
            return web.json_response({
                "title": "Invalid Request", "status": 400, "parameter": name, "value": value,
                "detail": f"The `{name}` query parameter value [{value}] is not one of "
                          f"[{', '.join(sorted(_KNOWN[name]))}]",
                "type": "https://api.x.com/2/problems/invalid-request"}, status=400)
        response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        queue: asyncio.Queue[bytes | Payload] = asyncio.Queue()
        self._streams.append(queue)
        try:
            await response.write(b"\r\n")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.heartbeat_s)
                except TimeoutError:
                    await response.write(b"\r\n")
                    continue
                line = (item if isinstance(item, bytes)
                        else json.dumps(select_fields(item, request.query)).encode())
                if line == _END:
                    await response.write_eof()
                    return response
                if line == _DROP:
                    assert request.transport is not None
                    request.transport.close()
                    return response
                await response.write(line + b"\r\n")
        except ConnectionResetError:
            return response
        finally:
            self._streams.remove(queue)
