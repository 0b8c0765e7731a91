"""Fitting the ensemble's weights on recorded days, walk-forward. Pure.

A recorded ``Score`` keeps every model's answer, so the ensemble's score under other
weights is computed again exactly as the worker combines (:func:`reweighed`: the lexicon
stands in for FinBERT with FinBERT's weight when FinBERT did not answer; the LLMs confirm
or veto the local models' direction, never enlarge it). The settings hold three weights,
``finbert`` (the local model's), ``groq`` and ``claude``.

:func:`fit` picks, from a grid on the simplex, the weights whose ensemble scores rank the
forward returns best (Spearman IC); ties go to the earlier candidate. :func:`walk_forward`
fits on each train window and measures on the days after it, so every figure it reports
for the fitted weights is out of sample.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from stocktracker.domain.research import walk_forward as splits
from stocktracker.domain.sentiment import NEUTRAL_BAND, ModelAnswer, combine_weighted, label_of
from stocktracker.domain.skill import ENSEMBLE, ScoredPost, bootstrap_spearman, scored_post, spearman

WEIGHTED: tuple[str, ...] = ("finbert", "groq", "claude")
"""The models with a weight setting (``SENTIMENT_WEIGHT_<NAME>``)."""


def _answers(post: ScoredPost) -> list[ModelAnswer]:
    return [ModelAnswer(m, max(-1.0, min(1.0, s)), max(0.0, min(1.0, c)), label_of(s))
            for m, (s, c) in post.answers.items() if m != ENSEMBLE]


def reweighed(post: ScoredPost, weights: Mapping[str, float], disagreement_bound: float = 0.8,
              band: float = NEUTRAL_BAND) -> tuple[float, float, str]:
    """``(score, confidence, label)`` of the post's answers combined with ``weights``
    (``finbert``, ``groq``, ``claude``) as the worker combines them. The models asked but
    silent are not recorded, so confidence assumes every model asked answered."""
    answers = _answers(post)
    c = combine_weighted(answers, weights, disagreement_bound, band, [a.model for a in answers])
    # rounded: the same answers under proportional weights must rank alike (IC sees ties)
    return round(c.score, 10), round(c.confidence, 10), c.label


def reweigh_record(record: Mapping[str, Any], weights: Mapping[str, float],
                   disagreement_bound: float = 0.8, band: float = NEUTRAL_BAND) -> dict[str, Any]:
    """A ``Score`` record with its ensemble score, confidence and label under ``weights``."""
    post = scored_post(record)
    if post is None:
        return dict(record)
    score, confidence, label = reweighed(post, weights, disagreement_bound, band)
    return {**record, "score": score, "confidence": confidence, "label": label}


def simplex(step: float = 0.1, names: Sequence[str] = WEIGHTED) -> list[dict[str, float]]:
    """Every weighting on a grid of ``step`` whose weights sum to 1."""
    n = round(1 / step)
    return [{name: round(k * step, 10) for name, k in zip(names, ks, strict=True)}
            for ks in itertools.product(range(n + 1), repeat=len(names)) if sum(ks) == n]


@dataclass(frozen=True, slots=True)
class Sample:
    """Posts with their forward return at the fitting horizon."""

    posts: tuple[ScoredPost, ...]
    returns: tuple[float, ...]

    def scores(self, weights: Mapping[str, float]) -> list[float]:
        """The ensemble's score of each post under ``weights``."""
        return [reweighed(p, weights)[0] for p in self.posts]

    def ic(self, weights: Mapping[str, float]) -> float | None:
        """IC of the ensemble under ``weights``."""
        return spearman(self.scores(weights), self.returns)


def sample(posts: Sequence[ScoredPost], forward: Callable[[ScoredPost], float | None]) -> Sample:
    """The posts that have a forward return (``forward`` gives it, or None)."""
    kept = [(p, r) for p in posts if (r := forward(p)) is not None]
    return Sample(tuple(p for p, _ in kept), tuple(r for _, r in kept))


def fit(train: Sample, candidates: Sequence[Mapping[str, float]]) -> tuple[dict[str, float], float | None]:
    """The candidate with the highest IC on ``train`` and that IC (the first candidate and
    None when no candidate has one)."""
    best, best_ic = dict(candidates[0]), None
    for weights in candidates:
        ic = train.ic(weights)
        if ic is not None and (best_ic is None or ic > best_ic):
            best, best_ic = dict(weights), ic
    return best, best_ic


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward step: fitted on ``train``, measured on ``test``."""

    train: tuple[date, ...]
    test: tuple[date, ...]
    weights: dict[str, float]
    in_sample_ic: float | None
    out_ic: float | None
    current_out_ic: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"train": [d.isoformat() for d in self.train], "test": [d.isoformat() for d in self.test],
                "weights": self.weights, "in_sample_ic": r(self.in_sample_ic),
                "out_of_sample_ic": r(self.out_ic), "current_out_of_sample_ic": r(self.current_out_ic)}


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Every fold, and the out-of-sample IC of all test days together: fitted (each day
    scored with the weights fitted before it) against the current weights."""

    folds: tuple[Fold, ...]
    out_ic: float | None
    out_interval: tuple[float, float] | None
    current_out_ic: float | None
    current_interval: tuple[float, float] | None
    posts: int


def walk_forward(by_day: Mapping[date, Sample], current: Mapping[str, float],
                 candidates: Sequence[Mapping[str, float]], train_days: int, test_days: int = 1,
                 anchored: bool = False, draws: int = 500, seed: int = 0) -> WalkForward:
    """Fit on each train window, score the following test window with the fitted and the
    current weights (see :class:`WalkForward`).

    Raises
    ------
    ValueError
        With fewer days than one train and one test window.
    """
    days = sorted(by_day)
    windows = splits(days, train_days, test_days, anchored=anchored)
    if not windows:
        raise ValueError(f"{len(days)} day(s) with posts and quotes: walk-forward needs at "
                         f"least {train_days + test_days} (train {train_days}, test {test_days})")
    folds: list[Fold] = []
    fitted_scores: list[float] = []
    current_scores: list[float] = []
    returns: list[float] = []
    for train, test in windows:
        joined = join([by_day[d] for d in train])
        weights, in_ic = fit(joined, candidates)
        held = join([by_day[d] for d in test])
        fitted, kept = held.scores(weights), held.scores(current)
        folds.append(Fold(tuple(train), tuple(test), weights, in_ic, spearman(fitted, held.returns),
                          spearman(kept, held.returns)))
        fitted_scores += fitted
        current_scores += kept
        returns += held.returns

    def interval(scores: list[float]) -> tuple[float, float] | None:
        found = bootstrap_spearman(scores, returns, draws, seed)
        return None if found is None else (found.low, found.high)

    return WalkForward(tuple(folds), spearman(fitted_scores, returns), interval(fitted_scores),
                       spearman(current_scores, returns), interval(current_scores), len(returns))


def join(samples: Sequence[Sample]) -> Sample:
    """The samples as one, in the order given."""
    return Sample(tuple(p for s in samples for p in s.posts), tuple(r for s in samples for r in s.returns))
