"""Windowed sentiment maths: one window's accumulator and what it says.

An accumulator is a plain dict (it is stored in Faust tables as JSON):
``{"wsum", "w", "csum", "n", "eng", "authors", "seen", "dnum", "dden", "last_us", "vol",
"iw_sum", "iw_n"}``. ``seen`` maps a short hash of each post already counted to
``[revision, weight, score, vol_read, interval_width]``: a score delivered twice
(at-least-once after a restart) is counted once, and a later revision of a post's score (a
late LLM answer) replaces the earlier one instead of adding a post. ``vol`` counts the
LLM's volatility reads (``low``/``normal``/``high``) of the posts in the window, and
``iw_sum``/``iw_n`` sum their interval widths: a revision that brings Claude's read moves
the post from no read to its read. All functions are pure.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from stocktracker.domain.vol_read import VOL_READS, majority

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
    vol_read: str | None = None
    interval_width: float | None = None


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What one window's accumulator says."""

    mean: float
    decayed: float
    confidence: float
    posts: int
    authors: int
    engagement: int
    vol_low: int = 0
    vol_normal: int = 0
    vol_high: int = 0
    interval_width: float | None = None

    @property
    def vol_counts(self) -> dict[str, int]:
        """How many posts of the window the LLM read as low, normal, high volatility."""
        return {"low": self.vol_low, "normal": self.vol_normal, "high": self.vol_high}

    @property
    def llm_vol(self) -> str | None:
        """The window's majority read (None: no read, or a tie)."""
        return majority(self.vol_counts)


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
        seen[tag] = _entry(item, weight)
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
        **_vol_sums(acc, None, item),
    }


def _entry(item: ScoreItem, weight: float) -> list[Any]:
    return [item.revision, weight, item.score, item.vol_read, item.interval_width]


def _vol_sums(acc: dict[str, Any], old: list[Any] | None, item: ScoreItem) -> dict[str, Any]:
    """The vol-read counts and interval sums with ``old``'s read (a seen entry, or None)
    taken out and ``item``'s put in."""
    counts = dict.fromkeys(VOL_READS, 0) | dict(acc.get("vol") or {})
    iw_sum, iw_n = float(acc.get("iw_sum", 0.0)), int(acc.get("iw_n", 0))
    old_read, old_width = (old[3], old[4]) if old is not None and len(old) >= 5 else (None, None)
    if old_read in counts:
        counts[old_read] -= 1
    if old_width is not None:
        iw_sum, iw_n = iw_sum - old_width, iw_n - 1
    if item.vol_read in counts:
        counts[item.vol_read] += 1
    if item.interval_width is not None:
        iw_sum, iw_n = iw_sum + item.interval_width, iw_n + 1
    return {"vol": counts, "iw_sum": iw_sum, "iw_n": iw_n}


def _seen(acc: dict[str, Any]) -> dict[str, list[Any] | None]:
    """The seen map (accumulators written before revisions kept a list of tags)."""
    seen = acc.get("seen") or {}
    if isinstance(seen, list):
        return dict.fromkeys(seen)
    return dict(seen)


def _age_factor(age_s: float, half_life_s: float) -> float:
    return math.exp(-math.log(2) * max(age_s, 0.0) / half_life_s)


def _revise(acc: dict[str, Any], seen: dict[str, list[Any] | None], tag: str, item: ScoreItem,
            weight: float) -> dict[str, Any]:
    """Replace a post's earlier contribution by its new revision (counts stay the same).

    A post's share of the decayed sums is ``weight * score`` decayed by its age at
    ``last_us`` whether it arrived in order or late, so it can be taken out exactly.
    """
    old = seen[tag] or [0, 0.0, 0.0]
    old_weight, old_score = old[1], old[2]
    seen[tag] = _entry(item, weight)
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
        **_vol_sums(acc, old, item),
    }


def stats(acc: dict[str, Any] | None) -> WindowStats:
    """Summarise an accumulator (an empty one is neutral with no confidence)."""
    if not acc or not acc.get("n"):
        return WindowStats(0.0, 0.0, 0.0, 0, 0, 0)
    n = int(acc["n"])
    mean = acc["wsum"] / acc["w"] if acc["w"] else 0.0
    decayed = acc["dnum"] / acc["dden"] if acc["dden"] else 0.0
    vol = acc.get("vol") or {}
    return WindowStats(
        mean=_clip(mean),
        decayed=_clip(decayed),
        confidence=min(1.0, acc.get("csum", 0.0) / n),
        posts=n,
        authors=len(acc.get("authors", ())),
        engagement=int(acc.get("eng", 0)),
        vol_low=int(vol.get("low", 0)),
        vol_normal=int(vol.get("normal", 0)),
        vol_high=int(vol.get("high", 0)),
        interval_width=acc["iw_sum"] / acc["iw_n"] if acc.get("iw_n") else None,
    )


def _clip(value: float) -> float:
    return max(-1.0, min(1.0, value))
