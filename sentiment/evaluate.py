"""``stocktracker eval-sentiment``: how each model and the ensemble do on a labelled set.

Each post of a labelled CSV (``text,label``; 0 bearish, 1 bullish, 2 neutral) goes through
the ensemble exactly as in the worker (same deadline, same models, same bands); every
model's own answer is read off the final revision, so each hosted model is called once per
post. A model that failed on a post counts as answering neutral there (score 0), and its
failures are reported. Plain VADER is scored alongside as the baseline the lexicon must beat.

Per model: accuracy, macro-F1, latency, per-class precision/recall/F1, the confusion
matrix and the share of posts called neutral. In two-class mode (a set of bullish and
bearish tags only) a neutral answer is a miss, and the per-class figures are for bullish
and bearish. :func:`choose_bands` picks each model's neutral band on the set by macro-F1.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from stocktracker.domain.evaluation import (
    LABELS,
    ClassFigures,
    accuracy,
    band_grid,
    choose_band,
    confusion,
    label_name,
    macro_f1,
    neutral_share,
    per_class,
)
from stocktracker.domain.sentiment import label_of
from stocktracker.sentiment.ensemble import Ensemble

ORDER = ("vader", "lexicon", "finbert", "groq", "claude", "ensemble_deadline", "ensemble")
# The setting that holds each model's band; the ensemble's (both revisions) is neutral_band.
BAND_SETTINGS = {"lexicon": "SENTIMENT_NEUTRAL_BAND_LEXICON",
                 "finbert": "SENTIMENT_NEUTRAL_BAND_FINBERT", "groq": "SENTIMENT_NEUTRAL_BAND_GROQ",
                 "claude": "SENTIMENT_NEUTRAL_BAND_CLAUDE", "ensemble": "SENTIMENT_NEUTRAL_BAND"}
GRID = band_grid(0.5, 0.025)


@dataclass(frozen=True, slots=True)
class Figures:
    """One model's figures over the set."""

    accuracy: float
    macro_f1: float
    ms_per_text: float
    answered: int
    rows: int
    neutral_share: float = 0.0
    per_class: Mapping[str, ClassFigures] = field(default_factory=dict)
    confusion: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """For ``--json`` (keys are only ever added)."""
        return {"accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4),
                "ms_per_text": round(self.ms_per_text, 4), "answered": self.answered,
                "rows": self.rows, "neutral_share": round(self.neutral_share, 4),
                "per_class": {label: {"precision": round(c.precision, 4),
                                      "recall": round(c.recall, 4), "f1": round(c.f1, 4),
                                      "support": c.support}
                              for label, c in self.per_class.items()},
                "confusion": {t: dict(row) for t, row in self.confusion.items()}}


@dataclass(slots=True)
class Answers:
    """What every model answered on every row: labels, scores, count and time spent."""

    truth: list[str]
    labels: dict[str, list[str]]
    scores: dict[str, list[float]]
    answered: dict[str, int]
    spent_us: dict[str, int]


@dataclass(frozen=True, slots=True)
class BandChoice:
    """The band chosen for one model, its macro-F1, and the macro-F1 with the band in use
    (``current`` None: the label the model gives)."""

    band: float
    macro_f1: float
    current: float | None
    current_macro_f1: float


def read_labelled(path: Path, two_class: bool = False) -> list[tuple[str, str]]:
    """Rows of ``text,label``; a bad row (a neutral one in two-class mode) is an error
    naming its line."""
    rows: list[tuple[str, str]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header with text,label; got {reader.fieldnames}")
        for row in reader:
            try:
                label = label_name(row["label"])
            except ValueError as exc:
                raise ValueError(f"{path}:{reader.line_num}: {exc}") from None
            if two_class and label == "neutral":
                raise ValueError(f"{path}:{reader.line_num}: neutral label in a two-class set "
                                 "(bullish/bearish tags only)")
            rows.append((row["text"], label))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


async def collect(rows: Sequence[tuple[str, str]], ensemble: Ensemble,
                  concurrency: int = 8) -> Answers:
    """Every row through the ensemble (and plain VADER): each model's label and score."""
    truth = [label for _, label in rows]
    labels: dict[str, list[str]] = defaultdict(lambda: ["neutral"] * len(rows))
    scores: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(rows))
    answered: dict[str, int] = defaultdict(int)
    spent_us: dict[str, int] = defaultdict(int)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, text: str) -> None:
        async with gate:
            started = time.perf_counter()
            scoring = await ensemble.score(text, (), 1.0)
            final = scoring.first
            async for final in scoring.updates():  # noqa: B007 - the last revision is the final
                pass
            total_us = int((time.perf_counter() - started) * 1e6)
        for key, combined, us in (("ensemble_deadline", scoring.first, scoring.time_to_score_us),
                                  ("ensemble", final, total_us)):
            labels[key][i], scores[key][i] = combined.label, combined.score
            answered[key] += 1
            spent_us[key] += us
        for answer in final.answers:
            labels[answer.model][i], scores[answer.model][i] = answer.label, answer.score
            answered[answer.model] += 1
            spent_us[answer.model] += answer.latency_us

    await asyncio.gather(*(one(i, text) for i, (text, _) in enumerate(rows)))
    vader = SentimentIntensityAnalyzer()
    started = time.perf_counter()
    scores["vader"] = [vader.polarity_scores(text)["compound"] for text, _ in rows]
    spent_us["vader"] = int((time.perf_counter() - started) * 1e6)
    labels["vader"] = [label_of(s) for s in scores["vader"]]
    answered["vader"] = len(rows)
    return Answers(truth, dict(labels), dict(scores), dict(answered), dict(spent_us))


def figures_of(answers: Answers, labels: Sequence[str] = LABELS) -> dict[str, Figures]:
    """Each model's figures over ``labels`` (``TWO_CLASS``: neutral answers are misses)."""
    truth, rows = answers.truth, len(answers.truth)
    return {model: Figures(accuracy(truth, said), macro_f1(truth, said, labels),
                           answers.spent_us[model] / 1000 / max(answers.answered[model], 1),
                           answers.answered[model], rows, neutral_share(said),
                           per_class(truth, said, labels), confusion(truth, said, labels))
            for model, said in answers.labels.items()}


async def evaluate(rows: Sequence[tuple[str, str]], ensemble: Ensemble,
                   concurrency: int = 8, labels: Sequence[str] = LABELS) -> dict[str, Figures]:
    """Score every row; figures per model, ``ensemble`` (final) and ``ensemble_deadline``."""
    return figures_of(await collect(rows, ensemble, concurrency), labels)


def choose_bands(answers: Answers, current: Mapping[str, float | None],
                 labels: Sequence[str] = LABELS,
                 grid: Sequence[float] = GRID) -> dict[str, BandChoice]:
    """The band of each model in ``current`` that answered (and of the ``ensemble``) with
    the best macro-F1 on this set; ties keep the band nearest the one in use."""
    chosen = {}
    for model, band_now in current.items():
        if not answers.answered.get(model):
            continue
        scores = answers.scores[model]
        band, f1 = choose_band(answers.truth, scores, grid, labels, band_now)
        now = macro_f1(answers.truth, answers.labels[model], labels)
        chosen[model] = BandChoice(band, f1, band_now, now)
    return chosen


def settings_lines(chosen: Mapping[str, BandChoice]) -> str:
    """The chosen bands as ``.env`` lines, each with a comment giving the gain.

    A model that gives its own label (FinBERT, an LLM) keeps it, its setting commented
    out, unless a band does better.
    """
    lines = []
    for model in sorted(chosen, key=_rank):
        c = chosen[model]
        now = "its own label" if c.current is None else f"{c.current:.3f}"
        lines.append(f"# {model}: macro-F1 {c.macro_f1:.3f} at {c.band:.3f} "
                     f"({c.current_macro_f1:.3f} with {now})")
        keep_own = c.current is None and c.macro_f1 <= c.current_macro_f1
        lines.append(f"{'# ' if keep_own else ''}{BAND_SETTINGS[model]}={c.band:g}")
    return "\n".join(lines)


def table(figures: Mapping[str, Figures]) -> str:
    """A readable table, models in a fixed order."""
    lines = [f"{'model':<18} {'accuracy':>9} {'macro-F1':>9} {'neutral':>8} {'ms/text':>9} "
             f"{'answered':>9}"]
    for name in sorted(figures, key=_rank):
        f = figures[name]
        lines.append(f"{name:<18} {f.accuracy:>9.3f} {f.macro_f1:>9.3f} {f.neutral_share:>8.3f} "
                     f"{f.ms_per_text:>9.3f} {f.answered:>5}/{f.rows}")
    return "\n".join(lines)


def details(figures: Mapping[str, Figures]) -> str:
    """Per model: precision, recall, F1 and support per class, and the confusion matrix
    (rows: the true label, columns: the model's answer)."""
    blocks = []
    for name in sorted(figures, key=_rank):
        f = figures[name]
        lines = [f"{name}", f"  {'class':<9} {'precision':>9} {'recall':>7} {'F1':>6} "
                 f"{'support':>8}   true \\ answered {' '.join(f'{a:>8}' for a in LABELS)}"]
        for label, c in f.per_class.items():
            row = f.confusion.get(label, {})
            lines.append(f"  {label:<9} {c.precision:>9.3f} {c.recall:>7.3f} {c.f1:>6.3f} "
                         f"{c.support:>8}   {label:>15} "
                         f"{' '.join(f'{row.get(a, 0):>8}' for a in LABELS)}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _rank(model: str) -> int:
    return ORDER.index(model) if model in ORDER else len(ORDER)
