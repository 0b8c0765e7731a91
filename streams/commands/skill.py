"""``stocktracker skill`` and ``stocktracker fit-weights``: forecast skill per model on a
recorded (or generated) range, and the ensemble's weights fitted walk-forward on it.

The maths is pure (:mod:`domain.skill`, :mod:`domain.fitting`); this module reads the
records, splits them into sessions, and for the P&L comparison runs each test day through
the backtest twice, once with the recorded scores combined under the fitted weights and
once under the current ones (:func:`domain.fitting.reweigh_record`). Nothing here changes
a running system: the fitted weights go into a settings file for ``--config``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from stocktracker.connectors.replay.source import ReplayItem
from stocktracker.domain.contracts import new_york_date
from stocktracker.domain.fitting import (
    WEIGHTED,
    Sample,
    WalkForward,
    fit,
    join,
    reweigh_record,
    sample,
    simplex,
    walk_forward,
)
from stocktracker.domain.skill import (
    HORIZONS_S,
    MidPath,
    ScoredPost,
    SkillReport,
    latest_scores,
    measure,
    mid_paths,
)
from stocktracker.streams.core.settings import Settings


def records_of(items: Iterable[ReplayItem], topic: str) -> list[dict[str, Any]]:
    """The decoded records of one topic, in order."""
    return [i.record for i in items if i.topic == topic and i.record_name != "_undecodable"]


def skill_of(items: Sequence[ReplayItem], settings: Settings, horizons: Sequence[int] = HORIZONS_S,
             draws: int = 500) -> SkillReport:
    """Every model's skill over the items' scores and underlying quotes."""
    return measure(latest_scores(records_of(items, "scores")), mid_paths(records_of(items, "quotes")),
                   threshold=settings.signal.bullish_threshold, horizons=horizons, draws=draws)


def current_weights(settings: Settings) -> dict[str, float]:
    """The weights the settings give the ensemble."""
    s = settings.sentiment
    return {"finbert": s.weight_finbert, "groq": s.weight_groq, "claude": s.weight_claude}


def fitted_models(posts: Iterable[ScoredPost]) -> list[str]:
    """The weighted models that answered at least once (the lexicon counts as ``finbert``,
    whose weight it takes when FinBERT is off)."""
    seen = {("finbert" if m == "lexicon" else m) for p in posts for m in p.answers}
    return [m for m in WEIGHTED if m in seen]


@dataclass(frozen=True)
class Fitted:
    """What fit-weights found: the walk-forward, the weights fitted on every day, the
    threshold chosen (if asked) and the P&L per test day under fitted and current weights."""

    walk: WalkForward
    weights: dict[str, float]
    models: list[str]
    current: dict[str, float]
    threshold: float | None
    pnl: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        w = self.walk
        return {"weights": self.weights, "fitted_models": self.models, "current": self.current,
                "threshold": self.threshold, "posts_out_of_sample": w.posts,
                "out_of_sample_ic": r(w.out_ic), "out_of_sample_interval": w.out_interval,
                "current_out_of_sample_ic": r(w.current_out_ic),
                "current_out_of_sample_interval": w.current_interval,
                "folds": [f.as_dict() for f in w.folds], "pnl": self.pnl}

    def settings_file(self, title: str) -> str:
        """The fitted settings as ``.env`` lines, with where they came from."""
        w = self.walk
        lines = [f"# {title}",
                 f"# out-of-sample IC {_num(w.out_ic)} {_span(w.out_interval)} over {w.posts} posts; "
                 f"current weights {_num(w.current_out_ic)} {_span(w.current_interval)}"]
        for model in WEIGHTED:
            fitted = model in self.models
            value = self.weights[model] if fitted else self.current[model]
            note = "" if fitted else "  # not fitted: no answers in the range, kept as set"
            lines.append(f"SENTIMENT_WEIGHT_{model.upper()}={value:g}{note}")
        if self.threshold is not None:
            lines += [f"SIGNAL_BULLISH_THRESHOLD={self.threshold:g}",
                      f"SIGNAL_BEARISH_THRESHOLD={-self.threshold:g}"]
        return "\n".join(lines) + "\n"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


def _span(v: tuple[float, float] | None) -> str:
    return "" if v is None else f"[{v[0]:+.2f}, {v[1]:+.2f}]"


def by_session(items: Sequence[ReplayItem]) -> dict[date, list[ReplayItem]]:
    """The items split by New York date."""
    days: dict[date, list[ReplayItem]] = {}
    for item in items:
        days.setdefault(new_york_date(item.event_us), []).append(item)
    return days


def reweighed_items(items: Iterable[ReplayItem], weights: Mapping[str, float],
                    settings: Settings) -> list[ReplayItem]:
    """The items with every score combined under ``weights``."""
    s = settings.sentiment
    return [ReplayItem(i.event_us, i.topic, i.record_name, i.key,
                       reweigh_record(i.record, weights, s.disagreement_bound, s.neutral_band))
            if i.topic == "scores" and i.record_name != "_undecodable" else i for i in items]


def _with_threshold(settings: Settings, threshold: float | None) -> Settings:
    if threshold is None:
        return settings
    return settings.model_copy(update={"signal": settings.signal.model_copy(
        update={"bullish_threshold": threshold, "bearish_threshold": -threshold})})


def _total_return(items: list[ReplayItem], weights: Mapping[str, float],
                  settings: Settings) -> dict[str, Any]:
    from stocktracker.streams.commands.backtest import run_backtest

    report = run_backtest(settings, reweighed_items(items, weights, settings), rescore=False,
                          title="fit-weights").report
    return {"total_return": report["total_return"], "trades": report["trades"]}


def fit_weights(items: Sequence[ReplayItem], settings: Settings, *, train_days: int, horizon_s: int = 300,
                step: float = 0.1, thresholds: Sequence[float] = (), pnl: bool = True,
                anchored: bool = False, draws: int = 500) -> Fitted:
    """Fit walk-forward (see :mod:`domain.fitting`), then on every day for the settings file.

    Raises
    ------
    ValueError
        Without recorded scores, or with too few days for one train and one test window.
    """
    days = by_session(items)
    posts_by_day = {d: latest_scores(records_of(day_items, "scores")) for d, day_items in days.items()}
    if not any(posts_by_day.values()):
        raise ValueError("no recorded scores in the range: fit-weights needs every model's answers "
                         "(keep the scores topic: stocktracker record)")
    samples: dict[date, Sample] = {}
    for d, day_items in days.items():
        paths = mid_paths(records_of(day_items, "quotes"))

        def forward(p: ScoredPost, paths: Mapping[str, MidPath] = paths) -> float | None:
            path = paths.get(p.ticker)
            return path.forward_return(p.event_us, horizon_s, 60.0) if path else None

        samples[d] = sample(posts_by_day[d], forward)
    samples = {d: s for d, s in samples.items() if s.posts}
    models = fitted_models(p for ps in posts_by_day.values() for p in ps)
    candidates = simplex(step, models)
    current = current_weights(settings)
    walk = walk_forward(samples, current, candidates, train_days, anchored=anchored, draws=draws)
    ordered = sorted(samples)
    weights, _ = fit(join([samples[d] for d in ordered]), candidates)

    def choose(train: Sequence[date], fold_weights: Mapping[str, float]) -> float | None:
        if not thresholds:
            return None
        train_items = [i for d in train for i in days[d]]
        return max(thresholds, key=lambda t: _total_return(
            train_items, fold_weights, _with_threshold(settings, t))["total_return"] or 0.0)

    threshold = choose(ordered[-train_days:], weights)
    rows = []
    if pnl:
        for fold in walk.folds:  # each test day under the weights (and threshold) fitted before it
            test_items = [i for d in fold.test for i in days[d]]
            tuned = _with_threshold(settings, choose(fold.train, fold.weights))
            rows.append({"test": [d.isoformat() for d in fold.test],
                         "fitted": _total_return(test_items, fold.weights, tuned),
                         "current": _total_return(test_items, current, settings)})
    return Fitted(walk, weights, models, current, threshold, rows)


def write_settings(path: Path, fitted: Fitted, title: str) -> None:
    """The settings file (never applied by itself: pass it to ``--config``)."""
    path.write_text(fitted.settings_file(title))


def generated_items(settings: Settings, days: Sequence[date], seed: int,
                    shuffle_posts: bool = False) -> list[ReplayItem]:
    """Generated sessions scored by the local models (a backtest run): their quotes, posts
    and scores as recorded items."""
    from stocktracker.streams.commands.backtest import run_backtest, synthetic_items
    from stocktracker.streams.core.topics import RECORDS

    outcome = run_backtest(settings, synthetic_items(days, seed, shuffle_posts), keep_all=True).outcome
    items = [ReplayItem(int(r["event_time"]), topic, RECORDS[topic], key, r)
             for topic in ("quotes", "posts", "scores")
             for key, r in zip(outcome.keys.get(topic, []), outcome.records.get(topic, []), strict=True)]
    items.sort(key=lambda i: i.event_us)
    return items
