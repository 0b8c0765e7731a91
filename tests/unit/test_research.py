"""Parameter sweeps, walk-forward splits, A/B comparison and picking the best run."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from stocktracker.domain.research import ab_compare, choose_best, grid, random_sample, walk_forward

SPACE = {"threshold": [0.2, 0.3, 0.4], "size": [1, 2], "stop": [0.2, 0.3, 0.4, 0.5]}
DAYS = [date(2026, 11, 2) + timedelta(days=i) for i in range(11)]


def test_grid_is_every_combination_once() -> None:
    combos = grid(SPACE)

    assert len(combos) == 3 * 2 * 4
    assert len({tuple(c.items()) for c in combos}) == len(combos)
    assert combos[0] == {"threshold": 0.2, "size": 1, "stop": 0.2}
    assert combos[-1] == {"threshold": 0.4, "size": 2, "stop": 0.5}
    assert grid({}) == [{}]
    assert grid({"a": [1, 2], "b": []}) == []


def test_random_sample_is_reproducible_and_stays_in_range() -> None:
    space = {"threshold": (0.1, 0.5), "size": (1, 5), "exit": ["trail", "time"]}

    first = random_sample(space, 50, seed=11)

    assert first == random_sample(space, 50, seed=11)
    assert first != random_sample(space, 50, seed=12)
    assert all(0.1 <= c["threshold"] <= 0.5 for c in first)
    assert all(isinstance(c["size"], int) and 1 <= c["size"] <= 5 for c in first)
    assert {c["exit"] for c in first} == {"trail", "time"}
    assert len({c["threshold"] for c in first}) == 50  # a range is continuous, not a few values


def test_walk_forward_tests_each_window_on_the_days_after_it() -> None:
    splits = walk_forward(DAYS, train=3, test=2)

    assert len(splits) == 4  # test windows start at days 3, 5, 7, 9
    tested = [d for _, test in splits for d in test]
    assert tested == sorted(tested) and len(set(tested)) == len(tested)
    for train, test in splits:
        assert len(train) == 3 and len(test) == 2
        assert max(train) < min(test)
        assert DAYS.index(test[0]) == DAYS.index(train[-1]) + 1


def test_walk_forward_anchored_and_stepped() -> None:
    anchored = walk_forward(DAYS, train=3, test=2, anchored=True)
    assert [len(train) for train, _ in anchored] == [3, 5, 7, 9]
    assert all(train[0] == DAYS[0] for train, _ in anchored)
    assert len(walk_forward(DAYS, train=3, test=2, step=1)) == 7
    assert walk_forward(DAYS[:4], train=3, test=2) == []
    with pytest.raises(ValueError):
        walk_forward(DAYS, train=0, test=2)


def test_ab_detects_a_real_difference() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(0.0, 0.01, 60)
    b = a + 0.004 + rng.normal(0.0, 0.002, 60)

    result = ab_compare(list(a), list(b), seed=1, n_boot=2000)

    assert result.n == 60
    assert result.mean_diff == pytest.approx(float(np.mean(b - a)))
    assert 0 < result.ci_low < result.mean_diff < result.ci_high
    assert result.significant and result.p_value < 0.01


def test_ab_finds_no_difference_where_there_is_none() -> None:
    rng = np.random.default_rng(6)
    a = rng.normal(0.0, 0.01, 40)
    noise = rng.normal(0.0, 0.003, 40)
    b = a + noise - noise.mean()  # same mean, different days

    same = ab_compare(list(a), list(a))
    shuffled = ab_compare(list(a), list(b), seed=2)

    assert (same.mean_diff, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert not same.significant
    assert shuffled.ci_low < 0 < shuffled.ci_high and not shuffled.significant
    assert shuffled.p_value > 0.5
    assert shuffled == ab_compare(list(a), list(b), seed=2)


def test_ab_needs_paired_days() -> None:
    with pytest.raises(ValueError):
        ab_compare([0.1, 0.2], [0.1])
    with pytest.raises(ValueError):
        ab_compare([], [])


def test_choose_best_skips_missing_metrics() -> None:
    results = [{"params": {"t": 0.2}, "report": {"sharpe": 1.2, "max_drawdown": -0.10}},
               {"params": {"t": 0.3}, "report": {"sharpe": None, "max_drawdown": -0.02}},
               {"params": {"t": 0.4}, "report": {"sharpe": math.nan, "max_drawdown": -0.30}},
               {"params": {"t": 0.5}, "report": {"sharpe": 2.5, "max_drawdown": -0.25}},
               {"params": {"t": 0.6}, "report": {"sharpe": 2.5, "max_drawdown": -0.05}}]

    assert choose_best(results, "report.sharpe")["params"] == {"t": 0.5}  # first of equals
    assert choose_best(results, "report.max_drawdown")["params"] == {"t": 0.3}
    assert choose_best(results, "report.sharpe", maximize=False)["params"] == {"t": 0.2}
    assert choose_best([{"pnl": 1}, {"pnl": 3}], "pnl") == {"pnl": 3}
    with pytest.raises(ValueError, match="sortino"):
        choose_best(results, "report.sortino")
