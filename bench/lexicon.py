"""Lexicon model throughput on one thread, against plain vaderSentiment on the same texts.

Texts are posts from the synthetic trading day (:func:`domain.synthetic.generate_day`):
a fifth stand alone, the rest are threads of 2 to 4 consecutive posts joined by ". " or a
newline, as forum posts run to several sentences; a few get a word shouted, "!!!" or a
leading "not". The two scorers take turns over the whole set until ``seconds`` have
passed, so machine noise falls on both alike.

    python bench/lexicon.py [--seconds 6] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from stocktracker.domain.lexicon import LexiconModel
from stocktracker.domain.synthetic import generate_day

GOAL_TEXTS_PER_S = 20_000.0


def corpus(seed: int = 7, size: int = 2000) -> list[str]:
    """The benchmark's posts: same seed, same texts."""
    day = generate_day(datetime(2025, 11, 24, 14, 30, tzinfo=UTC),
                       datetime(2025, 11, 24, 21, 0, tzinfo=UTC), seed=seed, events=12)
    posts = [str(post["text"]) for post in day.posts]
    rng = random.Random(seed)
    texts = []
    for _ in range(size):
        count = 1 if rng.random() < 0.2 else rng.randint(2, 4)
        start = rng.randrange(len(posts) - count)
        text = rng.choice((". ", ". ", "\n")).join(posts[start:start + count])
        words = text.split(" ")
        if rng.random() < 0.1:
            at = rng.randrange(len(words))
            words[at] = words[at].upper()
        if rng.random() < 0.05:
            words.insert(0, "not")
        texts.append(" ".join(words) + ("!!!" if rng.random() < 0.1 else ""))
    return texts


def _run(score: Callable[[str], object], texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        score(text)
    return time.perf_counter() - start


def measure(seconds: float = 6.0) -> dict[str, float]:
    """Texts per second of our lexicon model and of plain VADER, taking turns.

    Parameters
    ----------
    seconds:
        Rough wall time of the measurement (at least one round each).

    Returns
    -------
    dict[str, float]
        ``lexicon_texts_per_s``, ``vader_texts_per_s``, ``lexicon_to_vader_ratio``,
        ``texts`` (corpus size) and ``mean_chars`` (mean text length).
    """
    texts = corpus()
    model, vader = LexiconModel(), SentimentIntensityAnalyzer()
    _run(model.score, texts)  # warm the memo and the regex caches
    _run(vader.polarity_scores, texts)
    ours = plain = 0.0
    rounds = 0
    deadline = time.perf_counter() + seconds
    while rounds == 0 or time.perf_counter() < deadline:
        ours += _run(model.score, texts)
        plain += _run(vader.polarity_scores, texts)
        rounds += 1
    lexicon_rate = rounds * len(texts) / ours
    vader_rate = rounds * len(texts) / plain
    return {"lexicon_texts_per_s": lexicon_rate, "vader_texts_per_s": vader_rate,
            "lexicon_to_vader_ratio": lexicon_rate / vader_rate, "texts": float(len(texts)),
            "mean_chars": sum(map(len, texts)) / len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    figures = measure(args.seconds)
    print(f"\nlexicon scoring, one thread, {figures['texts']:.0f} synthetic posts and threads "
          f"({figures['mean_chars']:.0f} chars on average)")
    print(f"{'scorer':<26}{'texts/s':>10}{'us/text':>10}")
    for name, key in (("lexicon (domain.lexicon)", "lexicon_texts_per_s"),
                      ("plain vaderSentiment", "vader_texts_per_s")):
        print(f"{name:<26}{figures[key]:>10,.0f}{1e6 / figures[key]:>10.1f}")
    print(f"\nlexicon / plain VADER: {figures['lexicon_to_vader_ratio']:.2f}; lexicon vs goal "
          f"{GOAL_TEXTS_PER_S:,.0f}/s: ratio {figures['lexicon_texts_per_s'] / GOAL_TEXTS_PER_S:.2f} "
          "(above 1 meets the goal)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
