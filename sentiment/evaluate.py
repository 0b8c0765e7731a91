"""``stocktracker eval-sentiment``: accuracy, macro-F1 and latency per model and for the ensemble.

Each post of a labelled CSV (``text,label``; 0 bearish, 1 bullish, 2 neutral) goes through
the ensemble exactly as in the worker (same deadline, same models); every model's own
answer is read off the final revision, so each hosted model is called once per post.
A model that failed on a post counts as answering neutral there, and its failures are
reported. Plain VADER is scored alongside as the baseline the lexicon must beat.
"""

from __future__ import annotations

import asyncio
import csv
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from stocktracker.domain.evaluation import accuracy, label_name, macro_f1
from stocktracker.domain.sentiment import label_of
from stocktracker.sentiment.ensemble import Ensemble


@dataclass(frozen=True, slots=True)
class Figures:
    """One model's figures over the set."""

    accuracy: float
    macro_f1: float
    ms_per_text: float
    answered: int
    rows: int

    def as_dict(self) -> dict[str, float]:
        """For ``--json``."""
        return {"accuracy": round(self.accuracy, 4), "macro_f1": round(self.macro_f1, 4),
                "ms_per_text": round(self.ms_per_text, 4), "answered": self.answered,
                "rows": self.rows}


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """Rows of ``text,label``; a bad row is an error naming its line."""
    rows: list[tuple[str, str]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected a header with text,label; got {reader.fieldnames}")
        for row in reader:
            try:
                rows.append((row["text"], label_name(row["label"])))
            except ValueError as exc:
                raise ValueError(f"{path}:{reader.line_num}: {exc}") from None
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


async def evaluate(rows: Sequence[tuple[str, str]], ensemble: Ensemble,
                   concurrency: int = 8) -> dict[str, Figures]:
    """Score every row; figures per model, ``ensemble`` (final) and ``ensemble_deadline``."""
    truth = [label for _, label in rows]
    predicted: dict[str, list[str]] = defaultdict(lambda: ["neutral"] * len(rows))
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
            predicted[key][i] = combined.label
            answered[key] += 1
            spent_us[key] += us
        for answer in final.answers:
            predicted[answer.model][i] = answer.label
            answered[answer.model] += 1
            spent_us[answer.model] += answer.latency_us

    await asyncio.gather(*(one(i, text) for i, (text, _) in enumerate(rows)))
    vader = SentimentIntensityAnalyzer()
    started = time.perf_counter()
    predicted["vader"] = [label_of(vader.polarity_scores(text)["compound"]) for text, _ in rows]
    spent_us["vader"] = int((time.perf_counter() - started) * 1e6)
    answered["vader"] = len(rows)
    return {model: Figures(accuracy(truth, labels), macro_f1(truth, labels),
                           spent_us[model] / 1000 / max(answered[model], 1), answered[model],
                           len(rows))
            for model, labels in predicted.items()}


def table(figures: dict[str, Figures]) -> str:
    """A readable table, models in a fixed order."""
    order = ["vader", "lexicon", "finbert", "groq", "claude", "ensemble_deadline", "ensemble"]
    lines = [f"{'model':<18} {'accuracy':>9} {'macro-F1':>9} {'ms/text':>9} {'answered':>9}"]
    for name in sorted(figures, key=lambda m: order.index(m) if m in order else len(order)):
        f = figures[name]
        lines.append(f"{name:<18} {f.accuracy:>9.3f} {f.macro_f1:>9.3f} {f.ms_per_text:>9.3f} "
                     f"{f.answered:>5}/{f.rows}")
    return "\n".join(lines)
