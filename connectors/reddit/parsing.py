"""A Reddit thing's fields into a post. Pure.

The live source hands over the attributes of asyncpraw's models (``author`` a ``Redditor``
or ``None``, ``subreddit`` a ``Subreddit``); a dump of past posts (Pushshift, Arctic
Shift) hands over the JSON object itself (``author`` and ``subreddit`` as names). Both
become a :class:`RawPost` here, the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stocktracker.connectors.base import RawPost

REDDIT_WEB = "https://www.reddit.com"
FIELD_ERRORS = (KeyError, TypeError, ValueError, OverflowError)
"""What :func:`post_from_fields` raises for a field it cannot use."""


def post_from_fields(fields: Mapping[str, Any], fullname: str, *, submission: bool,
                     received_us: int) -> RawPost:
    """A submission's or comment's fields as a post.

    Parameters
    ----------
    fields:
        The thing's attributes: ``created_utc`` (a finite number of seconds), ``score``
        (an integer), ``title`` and ``selftext`` (submission) or ``body`` (comment), and
        optionally ``author``, ``permalink``, ``subreddit``, ``num_comments``, flair and
        ``parent_id``.
    fullname:
        ``t3_<id>`` or ``t1_<id>``; the post's id is ``reddit:<fullname>``.
    submission:
        A submission (title and self text) rather than a comment (body).
    received_us:
        When it was received, µs since the epoch.

    Returns
    -------
    RawPost
        The post (likes: the score; replies: the number of comments of a submission).

    Raises
    ------
    KeyError, TypeError, ValueError, OverflowError
        A field is missing or unusable (:data:`FIELD_ERRORS`).
    """
    created = fields["created_utc"]
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise ValueError("created_utc is not a number")
    if not math.isfinite(created):
        raise ValueError("created_utc is not finite")
    score = fields.get("score", 0)
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValueError("score is not an integer")
    author = fields.get("author")
    permalink = fields.get("permalink")
    if submission:
        title, body = fields["title"], fields.get("selftext") or ""
        if not isinstance(title, str) or not isinstance(body, str):
            raise ValueError("title/selftext is not text")
        text = f"{title}\n\n{body}" if body else title
        replies, flair, parent = int(fields.get("num_comments") or 0), fields.get("link_flair_text"), ""
    else:
        text = fields["body"]
        if not isinstance(text, str):
            raise ValueError("body is not text")
        replies, flair, parent = 0, fields.get("author_flair_text"), str(fields.get("parent_id") or "")
    subreddit = fields.get("subreddit")
    name = author if isinstance(author, str) else getattr(author, "name", None)
    return RawPost(
        id=f"reddit:{fullname}", source="reddit", author=name or "[deleted]", text=text,
        created_us=int(float(created) * 1_000_000), received_us=received_us,
        likes=score, replies=replies,
        url=f"{REDDIT_WEB}{permalink}" if isinstance(permalink, str) and permalink else None,
        extra={"subreddit": str(getattr(subreddit, "display_name", subreddit or "")),
               "kind": "submission" if submission else "comment",
               "flair": str(flair or ""), "parent_id": parent},
    )
