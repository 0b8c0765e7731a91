"""Throughput of the pure processing a post goes through before Kafka, on one core.

The chain is :class:`domain.ingest.Processor`: cleaning, language check, ticker
extraction (cashtags, known symbols, company names), relevance, and near-duplicate
detection. The posts are generated here (same seed, same posts), as ``RawPost``s the way
the connectors hand them over, in a varied mix:

- English posts from templates: cashtags, bare symbols, company names, numbers and
  prices, emoji, links (``https://t.co/...``), HTML entities (``&amp;``, ``&gt;``,
  ``&#39;``), mentions and hashtags; about a tenth are Reddit-length (60-150 words);
- about 8 % in Spanish, German, Portuguese, Russian, Chinese or Japanese;
- about 10 % about no ticker at all;
- about 15 % reposts of an earlier post: verbatim, with another link, with more emoji, or
  with one word changed.

Each step is also timed alone over the same posts (each on the input it sees in the
chain, for every post), and the chain is run ``rounds`` times with a fresh processor;
the median round is reported.

    python bench/ingest_processing.py [--posts 50000] [--rounds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.connectors.base import RawPost
from stocktracker.domain.dedup import Deduplicator
from stocktracker.domain.ingest import Processor
from stocktracker.domain.relevance import relevance
from stocktracker.domain.text_clean import clean_text, language
from stocktracker.domain.tickers import extract_tickers_ex

GOAL_POSTS_PER_S = 20_000.0
KNOWN = frozenset({"SPY", "QQQ", "IWM", "DIA", "AAPL", "NVDA", "TSLA", "AMD", "MSFT", "AMZN",
                   "META", "GOOGL", "NFLX", "PLTR", "COIN", "SMCI", "ALL", "IT", "ON", "A"})
START_US = 1_764_000_000_000_000

_SYMBOLS = ["SPY", "QQQ", "NVDA", "TSLA", "AAPL", "AMD", "MSFT", "AMZN", "META", "PLTR", "IWM"]
_NAMES = ["Nvidia", "Tesla", "Apple", "the Nasdaq", "the S&amp;P 500", "Microsoft", "Amazon",
          "Google", "Meta", "Netflix", "Palantir", "AMD", "Coinbase", "Broadcom"]
_EMOJI = ["🚀", "🚀🚀🚀", "📈", "📉", "🐻", "🌈🐻", "💎🙌", "🔥", "😂", "👀", "🤡", "💀", ""]
_OPENERS = ["Loading up on", "Just bought", "Dumped my", "Watching", "Holding", "Sold my",
            "Grabbed some", "Adding to", "Trimming", "Scaling into", "All in on", "Shorting"]
_THINGS = ["calls", "puts", "shares", "0DTE calls", "0DTE puts", "spreads", "{n}c", "{n}p",
           "weeklies", "LEAPS"]
_CLAUSES = [
    "before CPI tomorrow", "into earnings", "after that &gt; {n} breakout", "at ${n}",
    "because the chart looks strong", "and I'm not selling", "since the Fed is done",
    "with {n}% up on the week", "IMO this is the bottom", "while everyone is panicking",
    "and it&#39;s printing", "after the CEO said AI demand is insane", "EOD ripper incoming",
    "the DD is solid", "no way this holds", "volume is huge today", "short squeeze loading",
]
_TAILS = ["", "", "", " https://t.co/{code}", " via @{user}", " #stocks #options",
          " https://www.reddit.com/r/wallstreetbets/comments/{code}/", " NFA"]
_FOREIGN = [
    "El mercado está subiendo hoy y voy a comprar más acciones de ${s} 🚀",
    "Creo que ${s} va a bajar mucho esta semana, cuidado con las opciones",
    "Der Markt steigt heute und ich kaufe noch mehr ${s} Aktien für mein Depot",
    "Ich glaube, dass ${s} nach den Zahlen fällt, die Stimmung ist schlecht",
    "O mercado está subindo hoje e eu vou comprar mais ações da ${s}",
    "Рынок сегодня растет, я покупаю ${s} и жду новых максимумов",
    "今天{s}大涨，我又买入了一些看涨期权 🚀",
    "今日は{s}が大きく上がったので、コールを買い増ししました",
]
_CHATTER = [
    "What a day, markets are wild {e}", "Anyone else trading the open? {e}",
    "I think it is ALL good, just need patience", "Lost everything again lol {e}",
    "Good morning traders, coffee first ☕", "IT is over for the bears, or is it?",
    "Made ${n} profit today, time to log off {e}", "apple pie recipe anyone? {e}",
    "A great day to touch grass", "The Fed meeting is next week, stay safe",
]


def _english(rng: random.Random) -> str:
    symbol = rng.choice(_SYMBOLS)
    form = rng.random()
    if form < 0.5:
        ticker = f"${symbol}" if rng.random() < 0.8 else f"${symbol.lower()}"
    elif form < 0.7:
        ticker = symbol
    else:
        ticker = rng.choice(_NAMES)
    parts = [rng.choice(_OPENERS), ticker, rng.choice(_THINGS), rng.choice(_CLAUSES)]
    if rng.random() < 0.3:
        parts.append(rng.choice(_CLAUSES))
    if rng.random() < 0.2:
        parts.append(f"and ${rng.choice(_SYMBOLS)} too")
    text = " ".join(parts) + rng.choice((".", "!", "!!", "", " lol")) + " " + rng.choice(_EMOJI)
    if rng.random() < 0.1:  # a Reddit-length post: a few paragraphs of the same
        more = [" ".join([rng.choice(_OPENERS), rng.choice(_NAMES), rng.choice(_THINGS),
                          rng.choice(_CLAUSES), rng.choice(_CLAUSES)]) + "."
                for _ in range(rng.randint(5, 12))]
        text += "\n\n" + "\n".join(more)
    return text + rng.choice(_TAILS)


def _fill(text: str, rng: random.Random) -> str:
    return (text.replace("{n}", str(rng.randint(5, 900)))
            .replace("{code}", "".join(rng.choices("abcdefghijkmnpqrstuvwxyz0123456789", k=10)))
            .replace("{user}", f"trader{rng.randint(1, 999)}")
            .replace("{e}", rng.choice(_EMOJI)).replace("{s}", rng.choice(_SYMBOLS)))


def _repost(text: str, rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return text
    if kind < 0.55:
        base = text.split(" https://")[0]
        return _fill(base + " https://t.co/{code}", rng)
    if kind < 0.8:
        return text + " " + rng.choice(["🚀🚀", "🔥", "💯", "!!!"])
    words = text.split(" ")
    at = rng.randrange(len(words))
    words[at] = rng.choice(["really", "very", "so", "now", "today"])
    return " ".join(words)


def corpus(posts: int = 50_000, seed: int = 11) -> list[RawPost]:
    """The benchmark's posts, one every 20 ms of event time (same seed, same posts)."""
    rng = random.Random(seed)
    out: list[RawPost] = []
    for n in range(posts):
        roll = rng.random()
        if roll < 0.15 and out:
            text = _repost(out[rng.randrange(max(0, len(out) - 2000), len(out))].text, rng)
        elif roll < 0.23:
            text = _fill(rng.choice(_FOREIGN), rng)
        elif roll < 0.33:
            text = _fill(rng.choice(_CHATTER), rng)
        else:
            text = _fill(_english(rng), rng)
        created = START_US + n * 20_000
        followers = int(rng.lognormvariate(5.5, 2.2))
        out.append(RawPost(
            id=f"x:{n}", source=rng.choice(("x", "x", "reddit")), author=f"user{rng.randrange(5000)}",
            text=text, created_us=created, received_us=created + 300_000, followers=followers,
            likes=int(rng.expovariate(1 / 20)), reposts=int(rng.expovariate(1 / 3)),
            replies=int(rng.expovariate(1 / 5)), verified=rng.random() < 0.05,
            lang=rng.choice(("", "", "en", "und")), tickers=()))
    return out


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def measure(posts: int = 50_000, rounds: int = 3) -> dict[str, float]:
    """Posts per second of the processing chain and of each step, on this thread.

    Parameters
    ----------
    posts:
        How many posts to generate and process per round.
    rounds:
        Rounds of the whole chain (a fresh processor each); the median is reported.

    Returns
    -------
    dict[str, float]
        ``processing_posts_per_s`` (the chain), ``clean_posts_per_s``,
        ``language_posts_per_s``, ``tickers_posts_per_s``, ``relevance_posts_per_s``,
        ``dedup_posts_per_s``, the share of each outcome (``share_<reason>``), ``posts``
        and ``mean_chars``.
    """
    raw = corpus(posts)
    now = [post.created_us + 500_000 for post in raw]
    results: dict[str, float] = {"posts": float(posts),
                                 "mean_chars": sum(len(p.text) for p in raw) / posts}

    start = time.perf_counter()
    cleaned = [clean_text(post.text) for post in raw]
    results["clean_posts_per_s"] = _rate(posts, time.perf_counter() - start)
    start = time.perf_counter()
    for text in cleaned:
        language(text)
    results["language_posts_per_s"] = _rate(posts, time.perf_counter() - start)
    start = time.perf_counter()
    found = [extract_tickers_ex(text, KNOWN) for text in cleaned]
    results["tickers_posts_per_s"] = _rate(posts, time.perf_counter() - start)
    start = time.perf_counter()
    for post, symbols in zip(raw, found, strict=True):
        relevance(tickers=len(symbols), followers=post.followers, likes=post.likes,
                  reposts=post.reposts, replies=post.replies, age_s=0.5, verified=post.verified)
    results["relevance_posts_per_s"] = _rate(posts, time.perf_counter() - start)
    dedup = Deduplicator()
    start = time.perf_counter()
    for post, text, at_us in zip(raw, cleaned, now, strict=True):
        dedup.check(text, at_us / 1e6, post.id)
    results["dedup_posts_per_s"] = _rate(posts, time.perf_counter() - start)

    chain: list[float] = []
    processor = Processor(KNOWN)
    for _ in range(max(1, rounds)):
        processor = Processor(KNOWN)
        process = processor.process
        start = time.perf_counter()
        for post, at_us in zip(raw, now, strict=True):
            process(post, at_us)
        chain.append(_rate(posts, time.perf_counter() - start))
    results["processing_posts_per_s"] = statistics.median(chain)
    for reason, count in processor.counters().items():
        results[f"share_{reason}"] = count / posts
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    results = measure(args.posts, args.rounds)
    print(f"{'step':<22}{'posts/s':>12}{'µs/post':>10}")
    for key in ("clean", "language", "tickers", "relevance", "dedup", "processing"):
        rate = results[f"{key}_posts_per_s"]
        label = "chain (Processor)" if key == "processing" else key
        print(f"{label:<22}{rate:>12,.0f}{1e6 / rate:>10.1f}")
    print(f"\n{int(results['posts']):,} posts, {results['mean_chars']:.0f} chars on average; outcomes:")
    for key, value in results.items():
        if key.startswith("share_"):
            print(f"  {key[6:]:<16}{value:>7.1%}")
    verdict = "meets" if results["processing_posts_per_s"] >= GOAL_POSTS_PER_S else "MISSES"
    print(f"\nchain {verdict} the goal of {GOAL_POSTS_PER_S:,.0f} posts/s on one core")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
