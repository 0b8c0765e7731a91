"""Forecast-skill throughput: forward returns and IC, hit rate and calibration per model over
a generated session of posts and quotes (domain/skill.py), as ``stocktracker skill`` and the
backtest report compute them.

The posts are scored by the lexicon (and a second, random model) before the clock starts;
what is timed is building the mid paths from every quote and measuring every model at 1, 5
and 15 minutes, with the 500-draw bootstrap and without it, interleaved.

    python bench/skill.py [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.domain.lexicon import LexiconModel
from stocktracker.domain.skill import ScoredPost, mid_paths
from stocktracker.domain.skill import measure as measure_skill
from stocktracker.domain.synthetic import generate_day


def _day() -> tuple[list[ScoredPost], list[dict[str, object]]]:
    generated = generate_day(datetime(2026, 3, 2, 14, 30, tzinfo=UTC), datetime(2026, 3, 2, 21, tzinfo=UTC),
                             seed=11, quote_every_s=15.0, strikes_each_side=6)
    lexicon, rng = LexiconModel(), random.Random(1)
    posts = []
    for p in generated.posts:
        read = lexicon.score(str(p["text"]))
        posts.append(ScoredPost(str(p["id"]), generated.underlying, int(str(p["created_at_us"])),
                                {"ensemble": (read.score, read.confidence),
                                 "lexicon": (read.score, read.confidence),
                                 "groq": (rng.uniform(-1, 1), rng.uniform(0, 1))}))
    quotes: list[dict[str, object]] = [
        {"symbol": q.symbol, "underlying": q.underlying, "bid": q.bid, "ask": q.ask,
         "option_type": q.option_type, "event_time": q.ts_us} for q in generated.quotes]
    return posts, quotes


def measure(rounds: int = 3) -> dict[str, float]:
    """``skill_posts_per_s`` (with the bootstrap), ``skill_posts_per_s_no_bootstrap``, the
    session's size and the lexicon's 5-minute IC (a check that the day carries information)."""
    posts, quotes = _day()
    with_boot, without = [], []
    report = None
    for _ in range(rounds):
        for draws, out in ((500, with_boot), (0, without)):
            start = time.perf_counter()
            report = measure_skill(posts, mid_paths(quotes), threshold=0.25, draws=draws)
            out.append(time.perf_counter() - start)
    assert report is not None
    five = next(s for s in report.skills if s.model == "lexicon" and s.horizon_s == 300)
    return {"skill_posts_per_s": len(posts) / min(with_boot),
            "skill_posts_per_s_no_bootstrap": len(posts) / min(without),
            "skill_posts": float(len(posts)), "skill_quotes": float(len(quotes)),
            "skill_lexicon_ic_5m": five.ic or 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    figures = measure()
    print("\nskill benchmark (one generated session, 3 models x 3 horizons)")
    for key, value in figures.items():
        print(f"{key:<34} {value:>14,.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
