"""Classification figures for the sentiment evaluation: accuracy and macro-F1. Pure."""

from __future__ import annotations

from collections.abc import Sequence

# The CSV's label codes, as in the financial sentiment sets: 0 bearish, 1 bullish, 2 neutral.
LABELS = ("bearish", "bullish", "neutral")


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


def macro_f1(truth: Sequence[str], predicted: Sequence[str],
             labels: Sequence[str] = LABELS) -> float:
    """Mean F1 over ``labels`` (a label never predicted nor true counts as F1 0)."""
    _same_length(truth, predicted)
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def _same_length(a: Sequence[str], b: Sequence[str]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} labels against {len(b)} predictions")
