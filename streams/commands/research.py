"""The research workflow: many backtests in worker processes (sweeps, walk-forward, A/B).

A :class:`Job` is one backtest: settings overrides (by their environment names, as in
``.env``: ``SIGNAL_BULLISH_THRESHOLD=0.3``) and the days to replay, generated (seed,
shuffle) or recorded (each day's session read from the recorded topics). Jobs run in a
process pool with a progress bar; each returns its metrics and its daily returns (what an
A/B comparison pairs). The choices themselves (grid, random draws, splits, the bootstrap)
are pure, in :mod:`domain.research`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from typing import Any

from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.performance import daily_closes
from stocktracker.domain.research import ab_compare, choose_best, walk_forward
from stocktracker.streams.core.settings import SECTIONS, Settings, load_settings
from stocktracker.streams.venues import VENUE_SETTINGS

SUMMARY = ("total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "avg_win", "avg_loss",
           "profit_factor", "trades", "exposure", "fees", "signals")


@dataclass(frozen=True)
class Job:
    """One backtest of a research run.

    Attributes
    ----------
    overrides:
        Settings by environment name, laid over the environment.
    days:
        Sessions to replay, oldest first.
    source:
        ``synthetic`` (generated with ``seed``, ``seed + 1``... and ``shuffle_posts``) or
        ``recorded`` (each day's session from the recorded topics).
    """

    overrides: Mapping[str, str]
    days: tuple[date, ...]
    source: str = "synthetic"
    seed: int = 7
    shuffle_posts: bool = False
    label: str = ""
    tags: Mapping[str, Any] = field(default_factory=dict)


@contextmanager
def overridden(values: Mapping[str, str]) -> Iterator[None]:
    """The environment with ``values`` set, restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def settings_with(overrides: Mapping[str, str]) -> Settings:
    """Settings from the environment with ``overrides`` over it (a typo'd name fails)."""
    with overridden(overrides):
        return load_settings(sections=SECTIONS + VENUE_SETTINGS)


def run_job(job: Job) -> dict[str, Any]:
    """Run one backtest; its parameters, summary metrics and daily returns."""
    from stocktracker.schemas.codec import make_codec
    from stocktracker.streams.commands.backtest import recorded_items, run_backtest, synthetic_items

    settings = settings_with(job.overrides)
    if job.source == "synthetic":
        items, rescore = synthetic_items(job.days, job.seed, job.shuffle_posts), True
    else:
        calendar, items, rescore = MarketCalendar(settings.risk.exchange), [], False
        codec = make_codec(settings.stream.schema_registry_url)
        for day in job.days:
            session = calendar.session_on(day)
            if session is None:
                continue
            day_items, scored = recorded_items(settings, codec, session.open_us, session.close_us)
            items += day_items
            rescore = rescore or scored
    result = run_backtest(settings, items, rescore=rescore)
    curve = result.charts.equity
    closes = [equity for _, equity in daily_closes(curve)]
    start = curve[0][1] if curve else 0.0
    daily = [(b / a - 1) if a else 0.0 for a, b in zip([start, *closes[:-1]], closes, strict=True)]
    return {"label": job.label, "params": dict(job.overrides), **dict(job.tags),
            "days": [d.isoformat() for d in job.days],
            "report": {k: result.report.get(k) for k in SUMMARY}, "daily_returns": daily}


def run_jobs(jobs: Sequence[Job], workers: int = 2, progress: bool = True,
             run: Callable[[Job], dict[str, Any]] = run_job) -> list[dict[str, Any]]:
    """Run ``jobs`` in ``workers`` processes (in this one with ``workers`` 1); results in
    job order."""
    from rich.progress import Progress

    results: list[dict[str, Any] | None] = [None] * len(jobs)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("backtests", total=len(jobs))
        if workers <= 1:
            for n, job in enumerate(jobs):
                results[n] = run(job)
                bar.advance(task)
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(run, job): n for n, job in enumerate(jobs)}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.advance(task)
    return [r for r in results if r is not None]


def sweep(configs: Sequence[Mapping[str, Any]], days: Sequence[date], base: Mapping[str, str],
          **job: Any) -> list[Job]:
    """One job per configuration, each on ``days``."""
    return [Job({**base, **{k: str(v) for k, v in config.items()}}, tuple(days),
                label=f"config {n}", **job) for n, config in enumerate(configs)]


def ranked(results: Sequence[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Results best first by ``report.<metric>`` (missing values last)."""
    def key(result: dict[str, Any]) -> tuple[int, float]:
        value = result["report"].get(metric)
        return (0, -float(value)) if isinstance(value, int | float) else (1, 0.0)
    return sorted(results, key=key)


def walk_forward_run(configs: Sequence[Mapping[str, Any]], days: Sequence[date], train: int,
                     test: int, base: Mapping[str, str], metric: str, workers: int,
                     progress: bool, **job: Any) -> dict[str, Any]:
    """Per split, every configuration on the train days, the best (by ``metric``) on the
    test days; the out-of-sample daily returns strung together."""
    splits = walk_forward(list(days), train, test)
    if not splits:
        raise ValueError(f"{len(days)} days leave no {train}+{test} split")
    fits = run_jobs([j for tr, _ in splits for j in sweep(configs, tr, base, **job)], workers,
                    progress)
    size = len(configs)
    chosen = [choose_best(fits[n * size:(n + 1) * size], f"report.{metric}")
              for n in range(len(splits))]
    tests = run_jobs([Job(dict(best["params"]), tuple(te), label=f"split {n} test", **job)
                      for n, (best, (_, te)) in enumerate(zip(chosen, splits, strict=True))],
                     workers, progress)
    out_of_sample = [r for t in tests for r in t["daily_returns"]]
    growth = 1.0
    for r in out_of_sample:
        growth *= 1 + r
    return {"metric": metric, "train_days": train, "test_days": test,
            "splits": [{"train": [d.isoformat() for d in tr], "test": [d.isoformat() for d in te],
                        "chosen": best["params"], "train_report": best["report"],
                        "test_report": t["report"]}
                       for (tr, te), best, t in zip(splits, chosen, tests, strict=True)],
            "out_of_sample_return": growth - 1, "out_of_sample_daily": out_of_sample}


def ab_run(a: Mapping[str, str], b: Mapping[str, str], days: Sequence[date], workers: int,
           progress: bool, bootstrap_seed: int = 0, **job: Any) -> dict[str, Any]:
    """Both configurations on the same replay; B - A per day with a bootstrap interval
    (resampled with ``bootstrap_seed``; ``job`` holds the replay's ``Job`` fields)."""
    first, second = run_jobs([Job(dict(a), tuple(days), label="A", **job),
                              Job(dict(b), tuple(days), label="B", **job)], workers, progress)
    comparison = ab_compare(first["daily_returns"], second["daily_returns"], seed=bootstrap_seed)
    return {"a": first, "b": second,
            "difference": {"mean_daily": comparison.mean_diff, "ci_low": comparison.ci_low,
                           "ci_high": comparison.ci_high, "p_value": comparison.p_value,
                           "days": comparison.n, "significant": comparison.significant}}
