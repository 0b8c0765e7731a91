"""Windowed sentiment maths: one window's accumulator and what it says.

An accumulator is a plain dict (it is stored in Faust tables as JSON):
``{"wsum", "w", "csum", "n", "eng", "authors", "seen", "dnum", "dden", "last_us"}``.
``seen`` holds short hashes of the posts already counted, so a score delivered twice
(at-least-once after a restart) is counted once. All functions are pure.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

MAX_AUTHORS = 256
MAX_SEEN = 4096  # past this many posts in one window, redeliveries may count twice


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """One scored post as the aggregator sees it."""

    post_id: str
    score: float
    confidence: float
    author: str
    engagement: int
    event_us: int
    half_life_s: float = 120.0


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What one window's accumulator says."""

    mean: float
    decayed: float
    confidence: float
    posts: int
    authors: int
    engagement: int


def merge(acc: dict[str, Any] | None, item: ScoreItem) -> dict[str, Any]:
    """Return a new accumulator with ``item`` added (``acc`` is left untouched).

    The mean is weighted by each post's confidence; the decayed mean also by an exponential
    decay over event time with the item's half-life, so recent posts count more.
    """
    acc = acc or {}
    tag = hashlib.blake2b(item.post_id.encode(), digest_size=6).hexdigest()
    seen = list(acc.get("seen", ()))
    if tag in seen:
        return acc
    if len(seen) < MAX_SEEN:
        seen.append(tag)
    weight = max(item.confidence, 1e-6)
    last_us = int(acc.get("last_us", item.event_us))
    dt_s = (item.event_us - last_us) / 1e6
    if dt_s >= 0:
        decay = math.exp(-math.log(2) * dt_s / item.half_life_s)
        dnum = acc.get("dnum", 0.0) * decay + weight * item.score
        dden = acc.get("dden", 0.0) * decay + weight
        last_us = item.event_us
    else:  # a late post: weigh it by its age instead of decaying the rest
        late = math.exp(-math.log(2) * -dt_s / item.half_life_s)
        dnum = acc.get("dnum", 0.0) + late * weight * item.score
        dden = acc.get("dden", 0.0) + late * weight
    authors = list(acc.get("authors", ()))
    if item.author not in authors and len(authors) < MAX_AUTHORS:
        authors.append(item.author)
    return {
        "wsum": acc.get("wsum", 0.0) + weight * item.score,
        "w": acc.get("w", 0.0) + weight,
        "csum": acc.get("csum", 0.0) + item.confidence,
        "n": int(acc.get("n", 0)) + 1,
        "eng": int(acc.get("eng", 0)) + max(item.engagement, 0),
        "authors": authors,
        "seen": seen,
        "dnum": dnum,
        "dden": dden,
        "last_us": last_us,
    }


def stats(acc: dict[str, Any] | None) -> WindowStats:
    """Summarise an accumulator (an empty one is neutral with no confidence)."""
    if not acc or not acc.get("n"):
        return WindowStats(0.0, 0.0, 0.0, 0, 0, 0)
    n = int(acc["n"])
    mean = acc["wsum"] / acc["w"] if acc["w"] else 0.0
    decayed = acc["dnum"] / acc["dden"] if acc["dden"] else 0.0
    return WindowStats(
        mean=_clip(mean),
        decayed=_clip(decayed),
        confidence=min(1.0, acc.get("csum", 0.0) / n),
        posts=n,
        authors=len(acc.get("authors", ())),
        engagement=int(acc.get("eng", 0)),
    )


def _clip(value: float) -> float:
    return max(-1.0, min(1.0, value))
