"""Forecast skill: does a model's score predict what the underlying did next? Pure.

For each scored post (the last revision of its ``Score``: the LLMs' late answers included),
the underlying's forward return over ``h`` seconds is ``mid(t + h) / mid(t) - 1``, with
``mid(x)`` the mid of the last underlying quote at or before ``x`` (event time). A post
whose quote at ``t`` or ``t + h`` is older than ``max_stale_s``, or whose horizon runs past
the last quote, has no return and is left out (counted as ``no_market``).

Per model (and ``ensemble``, the score the system traded on) and horizon:

- **IC**: Spearman rank correlation of score and forward return, with a percentile
  bootstrap interval (pairs resampled with a fixed seed, so a report repeats exactly);
- **hit rate**: on posts with ``|score| >= threshold`` (the signal threshold), the share
  whose sign matches the return's (a zero return is neither), with Wilson's 95 % interval;
- **calibration**: among posts with a direction (score not 0), the hit rate per confidence
  bucket, and ``sorting``, the rank correlation of confidence with being right: positive
  when the model knows when it knows.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HORIZONS_S: tuple[int, ...] = (60, 300, 900)
BUCKETS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
ENSEMBLE = "ensemble"
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class ScoredPost:
    """One post's scores for one ticker: ``answers[model] = (score, confidence)``."""

    post_id: str
    ticker: str
    event_us: int
    answers: Mapping[str, tuple[float, float]]


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def scored_post(record: Mapping[str, Any]) -> ScoredPost | None:
    """A ``Score`` record as a :class:`ScoredPost` (the ensemble and each model that
    answered); None when its ensemble score is not a finite number."""
    score, confidence = _number(record.get("score")), _number(record.get("confidence"))
    if score is None or confidence is None:
        return None
    answers = {ENSEMBLE: (score, confidence)}
    for m in record.get("models") or ():
        s, c = _number(m.get("score")), _number(m.get("confidence"))
        if s is not None and c is not None:
            answers[str(m["model"])] = (s, c)
    return ScoredPost(str(record["post_id"]), str(record["ticker"]), int(record["event_time"]),
                      answers)


def latest_scores(records: Iterable[Mapping[str, Any]]) -> list[ScoredPost]:
    """The last revision of each (post, ticker), in event-time order."""
    latest: dict[tuple[str, str], tuple[int, Mapping[str, Any]]] = {}
    for r in records:
        key = (str(r.get("post_id")), str(r.get("ticker")))
        revision = int(r.get("revision") or 0)
        if key not in latest or revision >= latest[key][0]:
            latest[key] = (revision, r)
    posts = [p for _, r in latest.values() if (p := scored_post(r)) is not None]
    return sorted(posts, key=lambda p: (p.event_us, p.post_id, p.ticker))


@dataclass
class MidPath:
    """An underlying's mids in event time (appended in order, or sorted by :func:`mid_paths`)."""

    times: list[int] = field(default_factory=list)
    mids: list[float] = field(default_factory=list)

    def add(self, event_us: int, mid: float) -> None:
        """One more mid; one older than the last is put in its place."""
        if not self.times or event_us >= self.times[-1]:
            self.times.append(event_us)
            self.mids.append(mid)
            return
        i = bisect.bisect_right(self.times, event_us)
        self.times.insert(i, event_us)
        self.mids.insert(i, mid)

    def as_of(self, event_us: int, max_stale_us: int) -> float | None:
        """The mid of the last quote at or before ``event_us``, if not older than the bound."""
        i = bisect.bisect_right(self.times, event_us) - 1
        if i < 0 or event_us - self.times[i] > max_stale_us:
            return None
        return self.mids[i]

    def forward_return(self, event_us: int, horizon_s: float, max_stale_s: float) -> float | None:
        """``mid(t + h) / mid(t) - 1``; None without fresh quotes at both ends, or when the
        horizon runs past the last quote."""
        end = event_us + int(horizon_s * _US)
        if not self.times or end > self.times[-1]:
            return None
        stale = int(max_stale_s * _US)
        start_mid, end_mid = self.as_of(event_us, stale), self.as_of(end, stale)
        if start_mid is None or end_mid is None:
            return None
        return end_mid / start_mid - 1.0

    def trim(self, before_us: int) -> None:
        """Forget mids before ``before_us``, keeping the last one before it (the as-of)."""
        i = max(bisect.bisect_left(self.times, before_us) - 1, 0)
        del self.times[:i], self.mids[:i]


def is_underlying_quote(record: Mapping[str, Any]) -> bool:
    """Whether a ``Quote`` is the underlying's own (not an option's)."""
    return not record.get("option_type") and record.get("symbol") == record.get("underlying")


def underlying_mid(record: Mapping[str, Any]) -> tuple[str, int, float] | None:
    """``(underlying, event_us, mid)`` of an underlying's own ``Quote`` (not an option's);
    None for an option quote or one without a sane two-sided market."""
    if not is_underlying_quote(record):
        return None
    bid, ask = _number(record.get("bid")), _number(record.get("ask"))
    if bid is None or ask is None or bid <= 0 or ask < bid:
        return None
    return str(record["underlying"]), int(record["event_time"]), (bid + ask) / 2


def mid_paths(quotes: Iterable[Mapping[str, Any]]) -> dict[str, MidPath]:
    """Each underlying's mids from ``Quote`` records (options' quotes are skipped)."""
    points: dict[str, list[tuple[int, float]]] = {}
    for q in quotes:
        found = underlying_mid(q)
        if found:
            points.setdefault(found[0], []).append(found[1:])
    paths = {}
    for underlying, pts in points.items():
        pts.sort()
        paths[underlying] = MidPath([t for t, _ in pts], [m for _, m in pts])
    return paths


# ---- statistics ---------------------------------------------------------------------------
def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties given their mean rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float | None:
    """Spearman's rank correlation; None with fewer than 3 pairs or a constant side."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    den = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / den if den > 0 else None


@dataclass(frozen=True, slots=True)
class Interval:
    """A 95 % interval."""

    low: float
    high: float

    def covers(self, value: float) -> bool:
        """``low <= value <= high``."""
        return self.low <= value <= self.high


def bootstrap_spearman(x: Sequence[float], y: Sequence[float], draws: int = 500,
                       seed: int = 0) -> Interval | None:
    """Percentile bootstrap interval (2.5 %, 97.5 %) of :func:`spearman` over resampled pairs."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 3 or draws < 1:
        return None
    rng = np.random.default_rng(seed)
    found = [r for _ in range(draws) if (r := spearman(a[idx := rng.integers(0, len(a), len(a))],
                                                       b[idx])) is not None]
    if not found:
        return None
    low, high = np.percentile(found, [2.5, 97.5])
    return Interval(float(low), float(high))


def wilson(hits: int, count: int, z: float = 1.96) -> Interval | None:
    """Wilson's score interval of a proportion; None without observations."""
    if count <= 0:
        return None
    p = hits / count
    den = 1 + z * z / count
    centre = (p + z * z / (2 * count)) / den
    half = z * math.sqrt(p * (1 - p) / count + z * z / (4 * count * count)) / den
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


# ---- skill --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Bucket:
    """Directional posts whose confidence is in ``[low, high)`` (the last bucket: ``]``)."""

    low: float
    high: float
    count: int
    hits: int

    @property
    def hit_rate(self) -> float | None:
        """Share right, None when empty."""
        return self.hits / self.count if self.count else None


@dataclass(frozen=True, slots=True)
class Skill:
    """One model's skill at one horizon (see the module doc)."""

    model: str
    horizon_s: int
    n: int
    ic: float | None
    ic_interval: Interval | None
    hits: int
    calls: int
    hit_interval: Interval | None
    buckets: tuple[Bucket, ...]
    sorting: float | None

    @property
    def hit_rate(self) -> float | None:
        """Share of the calls (|score| >= threshold) that were right."""
        return self.hits / self.calls if self.calls else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        def span(i: Interval | None) -> list[float | None] | None:
            return None if i is None else [r(i.low), r(i.high)]

        return {"n": self.n, "ic": r(self.ic), "ic_interval": span(self.ic_interval),
                "hit_rate": r(self.hit_rate), "hits": self.hits, "calls": self.calls,
                "hit_interval": span(self.hit_interval), "sorting": r(self.sorting),
                "calibration": [{"confidence": [b.low, b.high], "count": b.count,
                                 "hit_rate": r(b.hit_rate)} for b in self.buckets]}


def model_skill(model: str, horizon_s: int, pairs: Sequence[tuple[float, float, float]],
                threshold: float, draws: int = 500, seed: int = 0,
                edges: Sequence[float] = BUCKETS) -> Skill:
    """:class:`Skill` from ``(score, confidence, forward return)`` triples."""
    scores = [s for s, _, _ in pairs]
    returns = [r for _, _, r in pairs]
    directional = [(c, (s > 0) == (r > 0)) for s, c, r in pairs if s != 0 and r != 0]
    called = [(s > 0) == (r > 0) for s, _, r in pairs if abs(s) >= threshold and s != 0 and r != 0]
    buckets = []
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2
        inside = [right for c, right in directional if low <= c < high or (last and c == high)]
        buckets.append(Bucket(low, high, len(inside), sum(inside)))
    sorting = spearman([c for c, _ in directional], [float(right) for _, right in directional])
    return Skill(model, horizon_s, len(pairs), spearman(scores, returns),
                 bootstrap_spearman(scores, returns, draws, seed), sum(called), len(called),
                 wilson(sum(called), len(called)), tuple(buckets), sorting)


@dataclass(frozen=True, slots=True)
class SkillReport:
    """Every model's skill per horizon over a set of posts."""

    skills: tuple[Skill, ...]
    posts: int
    no_market: dict[int, int]

    def as_dict(self) -> dict[str, Any]:
        """``{"posts", "no_market": {h: n}, "models": {model: {h: figures}}}``."""
        models: dict[str, dict[str, Any]] = {}
        for s in self.skills:
            models.setdefault(s.model, {})[str(s.horizon_s)] = s.as_dict()
        return {"posts": self.posts, "no_market": {str(h): n for h, n in self.no_market.items()},
                "models": models}

    def rows(self) -> list[tuple[str, ...]]:
        """One row per model and horizon, for a printed table."""
        def num(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        return [(s.model, f"{s.horizon_s // 60}m", str(s.n), num(s.ic, "+.3f"),
                 "-" if s.ic_interval is None else f"[{s.ic_interval.low:+.2f}, {s.ic_interval.high:+.2f}]",
                 num(s.hit_rate, ".0%"), str(s.calls), num(s.sorting, "+.2f")) for s in self.skills]


HEADER = ("model", "horizon", "posts", "IC", "IC 95%", "hit rate", "calls", "conf. sorts")


def measure(posts: Sequence[ScoredPost], paths: Mapping[str, MidPath], *, threshold: float,
            horizons: Sequence[int] = HORIZONS_S, max_stale_s: float = 60.0, draws: int = 500,
            seed: int = 0) -> SkillReport:
    """Every model's :class:`Skill` at every horizon (models in first-seen order,
    ``ensemble`` first)."""
    models = list(dict.fromkeys(m for p in posts for m in p.answers))
    skills, no_market = [], {}
    for h in horizons:
        pairs: dict[str, list[tuple[float, float, float]]] = {m: [] for m in models}
        missing = 0
        for p in posts:
            path = paths.get(p.ticker)
            ret = path.forward_return(p.event_us, h, max_stale_s) if path else None
            if ret is None:
                missing += 1
                continue
            for m, (score, confidence) in p.answers.items():
                pairs[m].append((score, confidence, ret))
        no_market[h] = missing
        skills += [model_skill(m, h, pairs[m], threshold, draws, seed) for m in models]
    return SkillReport(tuple(skills), len(posts), no_market)


class RollingSkill:
    """Skill over the posts of the last ``window_s`` seconds whose horizons have passed, fed
    record by record (the dashboard's live panel)."""

    def __init__(self, window_s: float = 3600.0, threshold: float = 0.25,
                 horizons: Sequence[int] = HORIZONS_S, max_stale_s: float = 60.0,
                 max_posts: int = 5000) -> None:
        self.window_us = int(window_s * _US)
        self.threshold = threshold
        self.horizons = tuple(horizons)
        self.max_stale_s = max_stale_s
        self.max_posts = max_posts
        self.paths: dict[str, MidPath] = {}
        self._posts: dict[tuple[str, str], tuple[int, ScoredPost]] = {}

    def quote(self, record: Mapping[str, Any]) -> None:
        """A ``Quote`` record (only the underlyings' own are kept)."""
        found = underlying_mid(record)
        if found:
            self.paths.setdefault(found[0], MidPath()).add(found[1], found[2])

    def score(self, record: Mapping[str, Any]) -> None:
        """A ``Score`` record; a later revision of a post replaces the earlier one."""
        post = scored_post(record)
        if post is None:
            return
        key, revision = (post.post_id, post.ticker), int(record.get("revision") or 0)
        if key in self._posts and self._posts[key][0] > revision:
            return
        self._posts[key] = (revision, post)
        if len(self._posts) > self.max_posts:  # dicts keep insertion order: drop the oldest
            del self._posts[next(iter(self._posts))]

    def report(self, now_us: int, draws: int = 200) -> SkillReport:
        """The skill of the window ending ``max(horizons)`` before ``now_us``, so every post
        in it has all its forward returns; old posts and quotes are forgotten."""
        start = now_us - self.window_us - max(self.horizons) * _US
        for key in [k for k, (_, p) in self._posts.items() if p.event_us < start]:
            del self._posts[key]
        for path in self.paths.values():
            path.trim(start - int(self.max_stale_s * _US))
        posts = sorted((p for _, p in self._posts.values()), key=lambda p: p.event_us)
        return measure(posts, self.paths, threshold=self.threshold, horizons=self.horizons,
                       max_stale_s=self.max_stale_s, draws=draws)
