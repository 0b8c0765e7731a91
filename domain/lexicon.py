"""Lexicon sentiment: VADER's lexicon extended with finance and trading-forum language.

Always available (no download). Multi-word phrases ("price target raised", "buy the
dip") are folded into single synthetic tokens before VADER scores the text, because VADER
only looks words up one at a time. Pure: no I/O beyond VADER's packaged lexicon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from domain.finance_lexicon import EMOJI, PHRASES, WORDS

_CASHTAG = re.compile(r"\$[A-Za-z]{1,5}\b")


@dataclass(frozen=True, slots=True)
class LexiconResult:
    """A lexicon score: ``score`` in [-1, 1], ``confidence`` in [0, 1], ``label``."""

    score: float
    confidence: float
    label: str


def _phrase_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    tokens = {p: "zzphrase" + re.sub(r"\W", "", p.replace(" ", "")) for p in PHRASES}
    ordered = sorted(PHRASES, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(p) for p in ordered) + r")\b",
                         re.IGNORECASE)
    return pattern, tokens


class LexiconModel:
    """VADER with the finance extension.

    Parameters
    ----------
    neutral_band:
        Scores within ``±neutral_band`` are labelled neutral.
    """

    name = "lexicon"

    def __init__(self, neutral_band: float = 0.05) -> None:
        self.neutral_band = neutral_band
        self._vader = SentimentIntensityAnalyzer()
        self._pattern, self._tokens = _phrase_pattern()
        self._vader.lexicon.update(WORDS)
        self._vader.lexicon.update({t: PHRASES[p] for p, t in self._tokens.items()})
        self._vader.lexicon.update(dict(EMOJI.values()))

    def _prepare(self, text: str) -> str:
        text = _CASHTAG.sub(" ", text)
        for emoji, (token, _weight) in EMOJI.items():
            if emoji in text:
                text = text.replace(emoji, f" {token} ")
        return self._pattern.sub(lambda m: self._tokens[m.group(1).lower()], text)

    def score(self, text: str) -> LexiconResult:
        """Score one post."""
        prepared = self._prepare(text)
        if not prepared.strip():
            return LexiconResult(0.0, 0.0, "neutral")
        polarity = self._vader.polarity_scores(prepared)
        compound = float(polarity["compound"])
        carried = 1.0 - float(polarity["neu"])
        confidence = min(1.0, 0.6 * abs(compound) + 0.8 * carried) if compound else 0.0
        if compound >= self.neutral_band:
            label = "bullish"
        elif compound <= -self.neutral_band:
            label = "bearish"
        else:
            label = "neutral"
        return LexiconResult(compound, round(confidence, 4), label)

