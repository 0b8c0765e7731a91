"""The finance lexicon must beat plain VADER on market language."""

from __future__ import annotations

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from domain.lexicon import LexiconModel

CASES = [
    ("$SPY price target raised to 650 at Goldman", "bullish"),
    ("Analyst downgraded $AAPL to underperform", "bearish"),
    ("NVDA beat estimates and raised guidance", "bullish"),
    ("missed estimates, guidance cut, ugly", "bearish"),
    ("loading calls on SPY before CPI 🚀", "bullish"),
    ("loading puts, this market is cooked", "bearish"),
    ("SPY to the moon 🚀🚀🚀", "bullish"),
    ("$SPY 📉📉 bears in control 🐻", "bearish"),
    ("short squeeze incoming on GME", "bullish"),
    ("that was a dead cat bounce, going lower", "bearish"),
    ("bull trap, get out now", "bearish"),
    ("rug pull on this ticker, bagholders everywhere", "bearish"),
    ("buy the dip on SPY", "bullish"),
    ("my 0DTE calls printing, tendies tonight", "bullish"),
    ("SPY breaking out to new highs", "bullish"),
    ("SPY breaking down, selloff into the close", "bearish"),
    ("IV crush wrecked my position, rekt", "bearish"),
    ("market tanking hard today", "bearish"),
    ("QQQ ripping, very bullish", "bullish"),
    ("not bullish on SPY at all", "bearish"),
    ("watching SPY at the open", "neutral"),
    ("$SPY", "neutral"),
    ("record revenue and a new buyback", "bullish"),
    ("company files for bankruptcy", "bearish"),
    ("puts printing, market dumping", "bearish"),
    ("short SPY here", "bearish"),
]


def label(score: float, band: float = 0.05) -> str:
    return "bullish" if score >= band else "bearish" if score <= -band else "neutral"


def test_lexicon_gets_market_language_right_and_beats_plain_vader() -> None:
    model, vader = LexiconModel(), SentimentIntensityAnalyzer()
    ours = sum(model.score(text).label == want for text, want in CASES) / len(CASES)
    plain = sum(label(vader.polarity_scores(text)["compound"]) == want
                for text, want in CASES) / len(CASES)
    assert ours >= 0.9, ours
    assert ours - plain >= 0.25, (ours, plain)


def test_intensity_negation_and_range() -> None:
    model = LexiconModel()
    assert model.score("very bearish").score < model.score("bearish").score < 0
    for text, _ in CASES:
        result = model.score(text)
        assert -1.0 <= result.score <= 1.0 and 0.0 <= result.confidence <= 1.0


@pytest.mark.parametrize("text", ["", "   ", "$SPY $QQQ"])
def test_no_words_no_confidence(text: str) -> None:
    result = LexiconModel().score(text)
    assert result.label == "neutral" and result.confidence == 0.0


def test_deterministic() -> None:
    a, b = LexiconModel(), LexiconModel()
    assert a.score("SPY calls 🚀") == b.score("SPY calls 🚀")
