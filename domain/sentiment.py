"""What every sentiment model answers, and how the ensemble combines the answers.

Every model (lexicon, FinBERT, an LLM) answers with a :class:`ModelAnswer`. The ensemble
weighs each answer by its model's weight times its confidence and re-normalises over the
models that answered. Local models (lexicon, FinBERT) make the decision; hosted LLMs may
confirm, weaken or veto it, but never open or enlarge one on their own: the combined score
keeps the local models' sign and never exceeds their magnitude. Pure: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

LOCAL_MODELS = frozenset({"lexicon", "finbert"})
NEUTRAL_BAND = 0.05


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """One model's reading of one post.

    Attributes
    ----------
    model:
        The model's name in score records (``lexicon``, ``finbert``, ``groq``, ``claude``).
    score:
        In [-1, 1], bullish positive.
    confidence:
        In [0, 1].
    label:
        ``bullish``, ``bearish`` or ``neutral``.
    latency_us:
        How long the model took, µs.
    reasoning:
        The model's short explanation, if it gave one.
    extra:
        Model-specific numbers or words (expected volatility, interval bounds, tokens).
    """

    model: str
    score: float
    confidence: float
    label: str
    latency_us: int = 0
    reasoning: str = ""
    extra: Mapping[str, float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not -1.0 <= self.score <= 1.0:
            raise ValueError(f"{self.model}: score {self.score} outside [-1, 1]")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"{self.model}: confidence {self.confidence} outside [0, 1]")
        if self.label not in ("bullish", "bearish", "neutral"):
            raise ValueError(f"{self.model}: unknown label {self.label!r}")


def label_of(score: float, band: float = NEUTRAL_BAND) -> str:
    """``bullish``/``bearish`` outside the neutral band, else ``neutral``."""
    if abs(score) < band or score == 0.0:
        return "neutral"
    return "bullish" if score > 0 else "bearish"


def with_band(answer: ModelAnswer, band: float | None) -> ModelAnswer:
    """``answer`` labelled from its score with ``band``; as the model gave it when None."""
    if band is None:
        return answer
    label = label_of(answer.score, band)
    return answer if label == answer.label else replace(answer, label=label)


@dataclass(frozen=True, slots=True)
class Combined:
    """The ensemble's answer for one post, at one moment (revision 0 at the deadline).

    Attributes
    ----------
    score, confidence, label:
        As for a model, after weighting and the local-first guard.
    disagreement:
        True when the answering models' scores span more than the bound.
    vetoed:
        True when the LLMs pointed the other way from the local models (score set to 0).
    answers:
        The answers that were combined, in the order given.
    """

    score: float
    confidence: float
    label: str
    disagreement: bool
    vetoed: bool
    answers: tuple[ModelAnswer, ...]


def combine(answers: Sequence[ModelAnswer], weights: Mapping[str, float],
            disagreement_bound: float = 0.8, band: float = NEUTRAL_BAND,
            asked: Sequence[str] = ()) -> Combined:
    """Combine the answers that arrived: confidence-weighted, re-normalised, local first.

    Parameters
    ----------
    answers:
        Whatever answered in time; models missing from ``weights`` get weight 0.
    weights:
        The model weights (need not sum to 1; they are re-normalised over ``answers``).
    disagreement_bound:
        When ``max(score) - min(score)`` over the answers exceeds it, the result is flagged
        and its confidence halved.
    band:
        Neutral band for the label.
    asked:
        Every model asked about this post. When some have not answered (yet), confidence
        is scaled by ``0.5 + 0.5 * answered weight / asked weight``: the local models alone
        are less sure than the local models confirmed.

    Returns
    -------
    Combined
        Neutral with confidence 0 when nothing local answered.
    """
    local = [a for a in answers if a.model in LOCAL_MODELS]
    local_score, _ = _weighted(local, weights)
    if not local:
        return Combined(0.0, 0.0, "neutral", False, False, tuple(answers))
    score, conf = _weighted(answers, weights)
    vetoed = False
    if local_score * score < 0 or (score != 0.0 and local_score == 0.0):
        score, vetoed = 0.0, local_score != 0.0
    elif abs(score) > abs(local_score):
        score = local_score  # an LLM confirms a direction; it does not enlarge it
    scores = [a.score for a in answers]
    disagreement = len(answers) > 1 and max(scores) - min(scores) > disagreement_bound
    if disagreement:
        conf *= 0.5
    asked_w = sum(weights.get(m, 0.0) for m in set(asked) | {a.model for a in answers})
    if asked_w > 0:
        conf *= 0.5 + 0.5 * sum(weights.get(a.model, 0.0) for a in answers) / asked_w
    return Combined(_clip(score), min(1.0, max(0.0, conf)), label_of(score, band), disagreement,
                    vetoed, tuple(answers))


def combine_weighted(answers: Sequence[ModelAnswer], weights: Mapping[str, float],
                     disagreement_bound: float = 0.8, band: float = NEUTRAL_BAND,
                     asked: Sequence[str] = ()) -> Combined:
    """:func:`combine` with the settings' weights (``finbert``, ``groq``, ``claude``): when
    FinBERT did not answer, the lexicon stands in with FinBERT's weight and FinBERT is not
    counted as asked. The worker's ensemble and the weight fit both combine through here."""
    has_finbert = any(a.model == "finbert" for a in answers)
    w = dict(weights)
    w["lexicon"] = 0.0 if has_finbert else float(weights.get("finbert", 0.0))
    if not has_finbert:
        asked = [m for m in asked if m != "finbert"]
    return combine(answers, w, disagreement_bound, band, asked)


def _weighted(answers: Sequence[ModelAnswer], weights: Mapping[str, float]) -> tuple[float, float]:
    """Confidence-weighted mean score and weight-averaged confidence over ``answers``."""
    num = den = wsum = csum = 0.0
    for a in answers:
        w = weights.get(a.model, 0.0)
        num += w * a.confidence * a.score
        den += w * a.confidence
        wsum += w
        csum += w * a.confidence
    if wsum == 0.0:
        return 0.0, 0.0
    return (num / den if den else 0.0), csum / wsum


def _clip(value: float, low: float = -1.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


_SPACE = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+")


def normalise(text: str) -> str:
    """The text a repost shares with its original: NFKC, lower case, no URLs, one space."""
    text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", _URL.sub("", text)).strip().lower()


def text_key(text: str) -> str:
    """A short stable hash of the normalised text (the answer cache's key)."""
    return hashlib.blake2b(normalise(text).encode(), digest_size=12).hexdigest()
