"""Windowed sentiment maths: one window's accumulator and what it says.

An accumulator is a plain dict (it is stored in Faust tables as JSON):
``{"wsum", "w", "csum", "n", "eng", "authors", "seen", "dnum", "dden", "last_us"}``.
``seen`` maps a short hash of each post already counted to ``[revision, weight, score]``:
a score delivered twice (at-least-once after a restart) is counted once, and a later
revision of a post's score (a late LLM answer) replaces the earlier one instead of adding
a post. All functions are pure.
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
    revision: int = 0


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
    seen = _seen(acc)
    weight = max(item.confidence, 1e-6)
    if tag in seen:
        before = seen[tag]
        if before is None or item.revision <= before[0]:
            return acc
        return _revise(acc, seen, tag, item, weight)
    if len(seen) < MAX_SEEN:
        seen[tag] = [item.revision, weight, item.score]
    last_us = int(acc.get("last_us", item.event_us))
    dt_s = (item.event_us - last_us) / 1e6
    if dt_s >= 0:
        decay = math.exp(-math.log(2) * dt_s / item.half_life_s)
        dnum = acc.get("dnum", 0.0) * decay + weight * item.score
        dden = acc.get("dden", 0.0) * decay + weight
        last_us = item.event_us
    else:  # a late post: weigh it by its age instead of decaying the rest
        late = _age_factor(-dt_s, item.half_life_s)
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


def _seen(acc: dict[str, Any]) -> dict[str, list[float] | None]:
    """The seen map (accumulators written before revisions kept a list of tags)."""
    seen = acc.get("seen") or {}
    if isinstance(seen, list):
        return dict.fromkeys(seen)
    return dict(seen)


def _age_factor(age_s: float, half_life_s: float) -> float:
    return math.exp(-math.log(2) * max(age_s, 0.0) / half_life_s)


def _revise(acc: dict[str, Any], seen: dict[str, list[float] | None], tag: str, item: ScoreItem,
            weight: float) -> dict[str, Any]:
    """Replace a post's earlier contribution by its new revision (counts stay the same).

    A post's share of the decayed sums is ``weight * score`` decayed by its age at
    ``last_us`` whether it arrived in order or late, so it can be taken out exactly.
    """
    _, old_weight, old_score = seen[tag] or (0, 0.0, 0.0)
    seen[tag] = [item.revision, weight, item.score]
    age = _age_factor((int(acc.get("last_us", item.event_us)) - item.event_us) / 1e6,
                      item.half_life_s)
    return {
        **acc,
        "wsum": acc.get("wsum", 0.0) - old_weight * old_score + weight * item.score,
        "w": acc.get("w", 0.0) - old_weight + weight,
        "csum": acc.get("csum", 0.0) - old_weight + weight,
        "dnum": acc.get("dnum", 0.0) + age * (weight * item.score - old_weight * old_score),
        "dden": acc.get("dden", 0.0) + age * (weight - old_weight),
        "seen": seen,
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
