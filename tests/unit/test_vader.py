"""Our VADER gives vaderSentiment's compound score, exactly, on VADER's own lexicon and on ours."""

from __future__ import annotations

import random

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from stocktracker.domain.lexicon import LexiconModel
from stocktracker.domain.vader import Vader, vader_lexicon

# Word lists that exercise every rule: sentiment words (some in capitals), boosters and
# dampeners, negations and contractions, "but", "least", "kind of", idioms, emoticons,
# emoji (VADER reads their descriptions) and punctuation.
SENTIMENT = ["good", "great", "love", "happy", "win", "bad", "terrible", "hate", "sad", "ugly",
             "funny", "smart", "handsome", "horrible", "excellent", "GOOD", "BAD", "Great",
             "shit", "bomb", "ass", "badass", "die", "death", "heart", "kiss", "lol", "no",
             "compelling", "uncompelling", "sux", "doubt", "kind"]
BOOSTERS = ["very", "VERY", "really", "so", "extremely", "kinda", "sorta", "barely", "slightly",
            "uber", "friggin", "FRIGGIN", "more", "most", "less", "little", "just enough",
            "kind of", "sort of", "kind-of"]
NEGATIONS = ["not", "NOT", "never", "no", "isn't", "don't", "Didn't", "wont", "without",
             "nor", "or", "cannot", "seldom", "despite", "uh-uh"]
GLUE = ["the", "a", "is", "was", "this", "it", "at", "least", "very least", "but", "BUT",
        "to", "for", "of", "yeah", "right", "bus", "stop", "beating", "movie", "plot", "I",
        "Today", "VADER", "and", "with", "doubt"]
MARKS = ["", "", "", "!", "!!", "!!!!!", "?", "??", "???", "????", ".", ",", ":)", ":(", ":D",
         "<3", "😁", "💘", "😡", "🚀", "🔼", "👀", "x😂y"]

# VADER's own examples.
EXAMPLES = [
    "VADER is smart, handsome, and funny.", "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.", "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.", "The book was good.",
    "At least it isn't a horrible book.", "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!", "Today only kinda sux! But I'll get by, lol", "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁", "Not bad at all",
    "Sentiment analysis has never been good.", "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.", "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.", "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!", "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.", "Without a doubt, an excellent idea.",
    "", "   ", "!!!", "no no good", "good good good but bad bad", "kind of", "least good",
]


def sentences(count: int, seed: int) -> list[str]:
    """Varied plain sentences built from the word lists (same seed, same sentences)."""
    rng = random.Random(seed)
    pools = [SENTIMENT, SENTIMENT, BOOSTERS, NEGATIONS, GLUE, GLUE, GLUE, MARKS]
    texts = []
    for _ in range(count):
        words = [rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 18))]
        if rng.random() < 0.2:
            words = [w.upper() for w in words]
        texts.append(" ".join(words) + rng.choice(MARKS))
    return texts


@pytest.fixture(scope="module")
def reference() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def test_lexicon_is_vaders(reference: SentimentIntensityAnalyzer) -> None:
    assert vader_lexicon() == reference.lexicon
    assert Vader().lexicon == reference.lexicon


@pytest.mark.parametrize("text", EXAMPLES)
def test_vaders_examples(reference: SentimentIntensityAnalyzer, text: str) -> None:
    assert Vader().compound(text) == reference.polarity_scores(text)["compound"]


def test_same_compound_as_vader_on_a_varied_corpus(reference: SentimentIntensityAnalyzer) -> None:
    ours = Vader()
    texts = sentences(800, seed=11)
    got = [ours.compound(text) for text in texts]
    want = [reference.polarity_scores(text)["compound"] for text in texts]
    assert got == want
    # the corpus reaches every kind of score, and most rules moved some of them
    assert min(want) < -0.5 and max(want) > 0.5 and 0.0 in want
    assert any(c in text for text in texts for c in ("!!!", "but", "kind of", "least", "💘"))


def test_same_compound_as_vader_with_our_extended_lexicon() -> None:
    model = LexiconModel()
    reference = SentimentIntensityAnalyzer()
    reference.lexicon = dict(model._vader.lexicon)
    ours = Vader(model._vader.lexicon)
    rng = random.Random(5)
    posts = ["NOT selling my calls, diamond hands 💎🙌", "SPY to the moon 🚀🚀🚀",
             "very bullish on TSLA but IV crush!!!", "bears getting rekt today lol 👀",
             "0DTE SPY 590 expiring today", "kind of bearish, not loading puts yet??"]
    texts = [model.prepare(post) for post in posts] + sentences(200, seed=3)
    texts += [" ".join(rng.sample(texts, 3)) for _ in range(100)]
    assert [ours.compound(t) for t in texts] == [reference.polarity_scores(t)["compound"]
                                                 for t in texts]


def test_memo_does_not_change_scores() -> None:
    ours = Vader()
    texts = sentences(50, seed=2)
    first = [ours.compound(text) for text in texts]
    assert [ours.compound(text) for text in texts] == first
    assert [Vader().compound(text) for text in texts] == first


def test_lexicon_view_is_read_only() -> None:
    with pytest.raises(TypeError):
        Vader().lexicon["good"] = -3.0  # type: ignore[index]
