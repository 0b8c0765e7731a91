"""X filtered-stream lines into posts: parsing and the settings' filters. Pure.

The stream sends only the fields a connection asks for: :data:`TWEET_FIELDS`,
:data:`EXPANSIONS` and :data:`USER_FIELDS` are exactly what :func:`parse_line` reads, and
the source asks for them. Engagement counts are read under X's current names
(``repost_count``; API v2.167) and, failing that, the old ones (``retweet_count``). A post
lacking a count it should carry is still a post, its count 0, and the names missing are in
``extra["missing_metrics"]`` for the source to count (``health.missing_metrics``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stocktracker.connectors.base import Malformed, RawPost
from stocktracker.connectors.x.config import XSettings


@dataclass(frozen=True, slots=True)
class StreamNotice:
    """An operational message on the stream (``errors`` without ``data``): not a post."""

    reason: str


def _malformed(line: bytes, reason: str, received_us: int) -> Malformed:
    return Malformed(source="x", payload=line, reason=reason, received_us=received_us)


# What parse_line reads beyond the defaults (id, text): the stream request's fields.
TWEET_FIELDS = ("author_id", "created_at", "public_metrics", "lang", "entities", "conversation_id")
EXPANSIONS = ("author_id",)
USER_FIELDS = ("username", "public_metrics", "verified")
MISSING_METRICS = "missing_metrics"


def _count(metrics: Any, *names: str, where: str, missing: list[str]) -> int:
    """The first of ``names`` present in ``metrics``; 0 (and ``where.names[0]`` appended to
    ``missing``) when none is."""
    present = [n for n in names if isinstance(metrics, dict) and n in metrics]
    if not present:
        missing.append(f"{where}.{names[0]}")
        return 0
    value = metrics[present[0]]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}.{present[0]} is not an integer")
    return value


def parse_line(line: bytes, received_us: int) -> RawPost | Malformed | StreamNotice:
    """One line of the filtered stream as a post, a malformed payload or a notice."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        return _malformed(line, f"not JSON: {exc}", received_us)
    if not isinstance(message, dict):
        return _malformed(line, "not a JSON object", received_us)
    data = message.get("data")
    if data is None and message.get("errors"):
        titles = [str(e.get("title", e)) if isinstance(e, dict) else str(e) for e in message["errors"]]
        return StreamNotice("stream errors: " + "; ".join(titles))
    if not isinstance(data, dict):
        return _malformed(line, "no data object", received_us)
    return parse_tweet(data, message.get("includes"), message.get("matching_rules"), line,
                       received_us)


def parse_tweet(data: dict[str, Any], includes: Any, rules: Any, payload: bytes,
                received_us: int) -> RawPost | Malformed:
    """One tweet object as a post, its author looked up in ``includes["users"]``.

    Parameters
    ----------
    data:
        The tweet (a stream line's ``data``, or one item of a search page's ``data``).
    includes:
        The message's ``includes`` (``None`` when absent): the author comes from its users.
    rules:
        The stream's ``matching_rules`` (``None`` outside the filtered stream).
    payload:
        The bytes a :class:`Malformed` carries when the tweet cannot become a post.
    received_us:
        When the tweet was received, µs since the epoch.

    Returns
    -------
    RawPost | Malformed
        The post, or why it is not one.
    """
    missing = [k for k in ("id", "text", "author_id", "created_at")
               if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        return _malformed(payload, f"missing field(s): {', '.join(missing)}", received_us)
    try:
        created = datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
        if created.tzinfo is None:
            raise ValueError("created_at has no timezone")
        includes = includes or {}
        users = includes.get("users") or [] if isinstance(includes, dict) else []
        user = next((u for u in users if isinstance(u, dict) and u.get("id") == data["author_id"]), {})
        metrics = data.get("public_metrics")
        absent: list[str] = []
        followers = _count(user.get("public_metrics"), "followers_count",
                           where="user.public_metrics", missing=absent)
        likes = _count(metrics, "like_count", where="public_metrics", missing=absent)
        reposts = _count(metrics, "repost_count", "retweet_count", where="public_metrics",
                         missing=absent)
        replies = _count(metrics, "reply_count", where="public_metrics", missing=absent)
        entities = data.get("entities") or {}
        cashtags = entities.get("cashtags") or [] if isinstance(entities, dict) else []
        rules = rules or []
        username = str(user.get("username") or "")
        tweet_id = data["id"]
        extra = {"rules": ",".join(str(r.get("tag", "")) for r in rules if isinstance(r, dict)),
                 "author_id": data["author_id"],
                 "conversation_id": str(data.get("conversation_id") or tweet_id)}
        if absent:
            extra[MISSING_METRICS] = ",".join(absent)
        return RawPost(
            id=f"x:{tweet_id}", source="x", author=username or data["author_id"],
            text=data["text"], created_us=int(created.timestamp() * 1_000_000),
            received_us=received_us,
            followers=followers, likes=likes, reposts=reposts, replies=replies,
            verified=user.get("verified") is True,
            url=(f"https://x.com/{username}/status/{tweet_id}" if username
                 else f"https://x.com/i/web/status/{tweet_id}"),
            lang=str(data.get("lang") or ""),
            tickers=tuple(dict.fromkeys(str(c["tag"]).upper() for c in cashtags
                                        if isinstance(c, dict) and c.get("tag"))),
            extra=extra,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return _malformed(payload, f"bad field: {exc}", received_us)


def engagement(post: RawPost) -> int:
    """Likes + 2 reposts + replies."""
    return post.likes + 2 * post.reposts + post.replies


def rejection(post: RawPost, settings: XSettings) -> str | None:
    """Why the settings' filters drop ``post`` (``None``: it passes)."""
    if settings.x_verified_only and not post.verified:
        return "author not verified"
    if post.followers < settings.x_min_followers:
        return "too few followers"
    if engagement(post) < settings.x_min_engagement:
        return "too little engagement"
    return None
