"""Classification figures for the sentiment evaluation. Pure.

Accuracy, macro-F1, per-class precision, recall and F1, the confusion matrix, the share
of posts called neutral, and the neutral band that gives the best macro-F1 on a set.
Every figure takes the labels it is over: all three (``LABELS``), or bearish and bullish
only (``TWO_CLASS``) for sets without a neutral label, where a neutral answer is a miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stocktracker.domain.sentiment import label_of

# The CSV's label codes, as in the financial sentiment sets: 0 bearish, 1 bullish, 2 neutral.
LABELS = ("bearish", "bullish", "neutral")
TWO_CLASS = ("bearish", "bullish")


@dataclass(frozen=True, slots=True)
class ClassFigures:
    """One label's figures: precision, recall and F1 (0 where undefined) and its support."""

    precision: float
    recall: float
    f1: float
    support: int


def label_name(code: str | int) -> str:
    """``0``/``1``/``2`` (or the names themselves) to a label name; ValueError otherwise."""
    text = str(code).strip().lower()
    if text in LABELS:
        return text
    if text in ("0", "1", "2"):
        return LABELS[int(text)]
    raise ValueError(f"label {code!r} is not 0 (bearish), 1 (bullish) or 2 (neutral)")


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of exact matches (0 for no rows)."""
    _same_length(truth, predicted)
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth) if truth else 0.0


def per_class(truth: Sequence[str], predicted: Sequence[str],
              labels: Sequence[str] = LABELS) -> dict[str, ClassFigures]:
    """Precision, recall, F1 and support of each of ``labels``, in that order.

    An answer outside ``labels`` (neutral in two-class mode) is a false negative of the
    true label and a false positive of none.
    """
    _same_length(truth, predicted)
    figures = {}
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        called = sum(p == label for p in predicted)
        support = sum(t == label for t in truth)
        figures[label] = ClassFigures(tp / called if called else 0.0,
                                      tp / support if support else 0.0,
                                      2 * tp / (called + support) if tp else 0.0, support)
    return figures


def macro_f1(truth: Sequence[str], predicted: Sequence[str],
             labels: Sequence[str] = LABELS) -> float:
    """Mean F1 over ``labels`` (a label never predicted nor true counts as F1 0)."""
    figures = per_class(truth, predicted, labels)
    return sum(f.f1 for f in figures.values()) / len(labels)


def confusion(truth: Sequence[str], predicted: Sequence[str],
              labels: Sequence[str] = LABELS) -> dict[str, dict[str, int]]:
    """Counts by true label (rows, ``labels``) and answer (columns, all three labels)."""
    _same_length(truth, predicted)
    matrix = {t: dict.fromkeys(LABELS, 0) for t in labels}
    for t, p in zip(truth, predicted, strict=True):
        if t in matrix and p in matrix[t]:
            matrix[t][p] += 1
    return matrix


def neutral_share(predicted: Sequence[str]) -> float:
    """Share of the answers that are neutral (0 for no rows)."""
    return sum(p == "neutral" for p in predicted) / len(predicted) if predicted else 0.0


def band_grid(stop: float = 0.5, step: float = 0.025) -> tuple[float, ...]:
    """Neutral bands from 0 to ``stop`` inclusive, ``step`` apart."""
    if step <= 0 or not 0 <= stop < 1:
        raise ValueError(f"band grid needs step > 0 and 0 <= stop < 1, got {step}, {stop}")
    return tuple(round(i * step, 6) for i in range(round(stop / step) + 1))


def choose_band(truth: Sequence[str], scores: Sequence[float], grid: Sequence[float],
                labels: Sequence[str] = LABELS,
                prefer: float | None = None) -> tuple[float, float]:
    """The band of ``grid`` whose labels (:func:`label_of` of each score) give the best
    macro-F1 over ``labels``, and that macro-F1.

    Ties go to the band nearest ``prefer`` (the band in use: no change without a gain),
    else to the smallest.
    """
    if not grid:
        raise ValueError("empty band grid")
    _same_length(truth, scores)
    ranked = []
    for band in grid:
        f1 = macro_f1(truth, [label_of(s, band) for s in scores], labels)
        distance = abs(band - prefer) if prefer is not None else band
        ranked.append((-f1, distance, band))
    best_f1, _, best_band = min(ranked)
    return best_band, -best_f1


def _same_length(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} labels against {len(b)} predictions")
