"""Research helpers: parameter sweeps, walk-forward splits, A/B comparison, best pick. Pure.

A parameter space maps a setting's name to its candidates: a list of values to choose
from, or (for :func:`random_sample`) a ``(low, high)`` tuple, a range drawn uniformly
(integers when both ends are ints, ends included).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the candidates, the last setting varying fastest.

    An empty space gives one empty combination; a setting without candidates gives none.
    """
    names = list(space)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(space[n] for n in names))]


def _draw(rng: random.Random, candidates: Any) -> Any:
    if isinstance(candidates, tuple):
        low, high = candidates
        if isinstance(low, int) and isinstance(high, int):
            return rng.randint(low, high)
        return rng.uniform(float(low), float(high))
    return rng.choice(list(candidates))


def random_sample(space: Mapping[str, Sequence[Any] | tuple[float, float]], n: int,
                  seed: int) -> list[dict[str, Any]]:
    """``n`` random combinations: a list's value is chosen from it, a ``(low, high)`` tuple's
    drawn from the range; the same ``seed`` gives the same combinations."""
    rng = random.Random(seed)
    return [{name: _draw(rng, space[name]) for name in space} for _ in range(n)]


def walk_forward(days: Sequence[T], train: int, test: int, *, step: int | None = None,
                 anchored: bool = False) -> list[tuple[list[T], list[T]]]:
    """``(train_days, test_days)`` splits in time order: fit on a window, test on the next.

    Each test window follows its train window directly; windows move by ``step`` days
    (default ``test``, so the test windows tile the days without overlap). ``anchored``
    grows the train window from the first day instead of sliding it. A last window shorter
    than ``test`` is dropped.
    """
    if train < 1 or test < 1:
        raise ValueError("train and test must be at least 1 day")
    step = test if step is None else step
    if step < 1:
        raise ValueError("step must be at least 1 day")
    splits = []
    start = 0
    while start + train + test <= len(days):
        first = 0 if anchored else start
        splits.append((list(days[first:start + train]), list(days[start + train:start + train + test])))
        start += step
    return splits


@dataclass(frozen=True, slots=True)
class Comparison:
    """B against A on the same days.

    Attributes
    ----------
    mean_diff:
        Mean of B's minus A's return, per day.
    ci_low, ci_high:
        Bootstrap percentile confidence interval of ``mean_diff``.
    p_value:
        Two-sided bootstrap share: twice the smaller share of resampled means on either side
        of 0 (capped at 1); small when B is reliably better or worse.
    n:
        Paired days.
    """

    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    @property
    def significant(self) -> bool:
        """True when the interval leaves out 0."""
        return self.ci_low > 0 or self.ci_high < 0


def ab_compare(a_returns: Sequence[float], b_returns: Sequence[float], *, seed: int = 0,
               n_boot: int = 2000, confidence: float = 0.95) -> Comparison:
    """Compare two configurations' daily returns on the same replay, paired by day.

    Days are resampled with replacement ``n_boot`` times (the same days for A and B) and
    the mean difference recomputed each time.

    Raises
    ------
    ValueError
        When the series differ in length or are empty.
    """
    if len(a_returns) != len(b_returns) or not a_returns:
        raise ValueError("A and B need the same, non-zero number of days")
    diff = np.asarray(b_returns, dtype=float) - np.asarray(a_returns, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    share = min(float(np.mean(means <= 0)), float(np.mean(means >= 0)))
    return Comparison(float(diff.mean()), float(low), float(high), min(1.0, 2 * share), len(diff))


def _lookup(result: Mapping[str, Any], metric: str) -> float | None:
    value: Any = result
    for part in metric.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def choose_best(results: Sequence[Mapping[str, Any]], metric: str, *,
                maximize: bool = True) -> Mapping[str, Any]:
    """The result with the best ``metric`` (a key, or a dotted path such as
    ``"report.sharpe"``); results where it is missing, ``None`` or NaN are passed over, and
    the first of equals wins.

    Raises
    ------
    ValueError
        When no result has the metric.
    """
    scored = [(v, i) for i, r in enumerate(results) if (v := _lookup(r, metric)) is not None]
    if not scored:
        raise ValueError(f"no result has a value for {metric!r}")
    best = max(scored, key=lambda s: (s[0] if maximize else -s[0], -s[1]))
    return results[best[1]]
