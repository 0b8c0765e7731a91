"""Generated files of past posts, in the formats ``stocktracker import posts`` reads: a
Reddit NDJSON dump (the import benchmark's 100k posts) and a CSV of one session's chatter
with directional bursts (an imported day to backtest). Seeded; texts from the generator's
templates (:mod:`domain.synthetic`), so the ingest steps keep most of them.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stocktracker.domain.synthetic import OPENERS, TAILS, TEMPLATES

Burst = tuple[datetime, int]
"""When a burst of directional posts starts, and its direction (+1 bullish, -1 bearish)."""


def _text(rng: random.Random, direction: int, ticker: str, strike: int) -> str:
    template = rng.choice(TEMPLATES[direction])
    return rng.choice(OPENERS) + template.format(t=rng.choice((f"${ticker}", ticker)), k=strike) \
        + rng.choice(TAILS[direction])


def write_reddit_dump(path: Path, count: int, start: datetime, *, seed: int = 7,
                      ticker: str = "SPY", strike: int = 500, every_s: float = 0.25) -> int:
    """``count`` submissions (Pushshift / Arctic Shift NDJSON) from ``start``, one every
    ``every_s`` seconds, 15 % bullish and 15 % bearish; returns the lines written."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for n in range(count):
            direction = rng.choices((1, -1, 0), (15, 15, 70))[0]
            created = start.timestamp() + n * every_s
            out.write(json.dumps({
                "id": f"g{n:07x}", "author": f"user{rng.randrange(5000)}",
                "created_utc": round(created, 3), "title": _text(rng, direction, ticker, strike),
                "selftext": f"post {n}", "score": rng.randrange(0, 200),
                "num_comments": rng.randrange(0, 50), "subreddit": "wallstreetbets",
                "permalink": f"/r/wallstreetbets/comments/g{n:07x}/post/"}) + "\n")
    return count


def session_chatter(open_at: datetime, minutes: int, bursts: Sequence[Burst], *, seed: int = 3,
                    ticker: str = "SPY", strike: int = 500, burst_size: int = 12,
                    every_min: int = 4) -> list[tuple[str, str, str, int]]:
    """CSV rows (text, created_at, author, score), oldest first: neutral chatter every
    ``every_min`` minutes over ``minutes`` from ``open_at``, and at each burst
    ``burst_size`` directional posts from distinct authors, 7 s apart."""
    rng = random.Random(seed)
    rows = [(f"{_text(rng, 0, ticker, strike)} #{m}", (open_at + timedelta(minutes=m)).isoformat(),
             f"chatter{m % 7}", 1) for m in range(0, minutes, every_min)]
    for b, (at, direction) in enumerate(bursts):
        for n, template in enumerate(rng.sample(TEMPLATES[direction], burst_size)):
            text = rng.choice(OPENERS) + template.format(t=f"${ticker}", k=strike + direction)
            rows.append((text, (at + timedelta(seconds=7 * n)).astimezone(UTC).isoformat(),
                         f"burst{b}trader{n}", 20))
    return sorted(rows, key=lambda r: r[1])


def write_csv(path: Path, rows: Iterable[tuple[str, str, str, int]]) -> int:
    """The rows under the header ``text,created_at,author,score``; returns how many."""
    count = 0
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(("text", "created_at", "author", "score"))
        for row in rows:
            out.writerow(row)
            count += 1
    return count
