"""Sentiment benchmark: FinBERT's CPU path, the lexicon's rate, and the ensemble's deadline.

1. FinBERT (``bench/finbert.py``): the project's optimised path against plain fp32 eager
   transformers on the same BERT-base-shaped model, batch 1, ~32 tokens, measured
   interleaved; and batched texts/s.
2. Lexicon (``bench/lexicon.py``): texts/s on one core, with plain VADER beside it; forecast
   skill (``bench/skill.py``): scored posts measured per second (forward returns, IC with
   its bootstrap, hit rate, calibration) over a generated session.
3. Ensemble: the real ``groq`` and ``anthropic`` clients against local servers answering in
   50 ms and 400 ms, the lexicon (and FinBERT on the random BERT-base when torch is
   present); time-to-score per post, p50/p99, against ``deadline + 5 ms``.

    python bench/sentiment.py [--posts 300] [--rate 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.domain.latency import summarize
from stocktracker.domain.synthetic import generate_day
from stocktracker.sentiment.ensemble import Ensemble
from stocktracker.sentiment.llm import ClaudeModel, GroqModel, LLMModel
from stocktracker.streams.core.settings import SentimentSettings

DEADLINE_MS = 100.0
SLACK_MS = 5.0


@contextmanager
def server_process(latency_s: float) -> Iterator[str]:
    """A local LLM API server in its own process (as a remote API would be); yields its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "stocktracker.connectors.simulated.llm_servers",
                             "--latency", str(latency_s)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def bench_texts(count: int) -> list[str]:
    """Distinct post texts (no cache hits) from a generated day."""
    day = generate_day(datetime(2026, 3, 2, 14, 30, tzinfo=UTC), datetime(2026, 3, 2, 21, tzinfo=UTC),
                       seed=11, posts_per_minute=max(1.0, count / 390 * 1.2))
    texts = [str(p["text"]) for p in day.posts]
    while len(texts) < count:
        texts += texts
    return [f"{t} #{i}" for i, t in enumerate(texts[:count])]


async def ensemble_figures(posts: int, rate: float, finbert: object | None) -> dict[str, float]:
    """Score ``posts`` posts arriving at ``rate``/s; time-to-score percentiles in ms."""
    with server_process(0.05) as fast_url, server_process(0.4) as slow_url:
        s = SentimentSettings(groq_api_key="bench", anthropic_api_key="bench",  # type: ignore[arg-type]
                              groq_base_url=fast_url, anthropic_base_url=slow_url, finbert="off",
                              deadline_ms=DEADLINE_MS, llm_calls_per_minute=10**9,
                              llm_min_relevance=0.0)
        llms: list[LLMModel] = [m for m in (GroqModel.from_settings(s), ClaudeModel.from_settings(s))
                                if m is not None]
        ensemble = Ensemble(s, finbert=finbert, llms=llms)  # type: ignore[arg-type]
        async def warm(text: str) -> None:
            scoring = await ensemble.score(text, ("SPY",))
            async for _ in scoring.updates():
                pass

        # Steady state: open the keep-alive connections a live worker already holds.
        await asyncio.gather(*(warm(f"warm up {i}") for i in range(24)))
        times_us: list[float] = []

        in_time: dict[str, int] = {"groq": 0, "claude": 0, "finbert": 0}
        revisions = 0

        async def one(text: str) -> None:
            nonlocal revisions
            scoring = await ensemble.score(text, ("SPY",))
            times_us.append(scoring.time_to_score_us)

            for a in scoring.first.answers:
                if a.model in in_time:
                    in_time[a.model] += 1
            async for _ in scoring.updates():
                revisions += 1

        tasks = []
        started = time.perf_counter()
        for i, text in enumerate(bench_texts(posts)):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(text)))
        await asyncio.gather(*tasks)
        await ensemble.close()
    s_ms = summarize([t / 1000 for t in times_us])
    return {"ensemble_p50_ms": s_ms["p50"], "ensemble_p99_ms": s_ms["p99"],
            "ensemble_max_ms": s_ms["max"], "deadline_ms": DEADLINE_MS,
            "ensemble_posts": float(posts), "groq_in_time_share": in_time["groq"] / posts,
            "claude_in_time_share": in_time["claude"] / posts,
            "finbert_in_time_share": in_time["finbert"] / posts if finbert else 0.0,
            "late_revisions": float(revisions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="posts/s into the ensemble")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--skip-finbert", action="store_true", help="no torch needed")
    args = parser.parse_args()
    figures: dict[str, float] = {}

    from bench.lexicon import measure as lexicon_measure

    figures.update(lexicon_measure())
    from bench.skill import measure as skill_measure

    figures.update(skill_measure())
    batcher = None
    if not args.skip_finbert:
        from bench.finbert import measure as finbert_measure
        from bench.finbert import optimised_batcher

        figures.update(finbert_measure())
        batcher = optimised_batcher()
    figures.update(asyncio.run(ensemble_figures(args.posts, args.rate, batcher)))

    print("\nsentiment benchmark (ratios measured side by side in this run)")
    rows = [
        ("FinBERT batch 1: optimised vs fp32 eager", "finbert_speedup_vs_eager", "x", ">= 4x"),
        ("FinBERT batch 1 optimised, ms", "finbert_ms_batch1_optimised", "ms", ""),
        ("FinBERT batch 1 eager, ms", "finbert_ms_batch1_eager", "ms", ""),
        ("FinBERT batched, texts/s", "finbert_batched_texts_per_s", "/s", ""),
        ("Lexicon, texts/s (one core)", "lexicon_texts_per_s", "/s", ">= 20,000"),
        ("Plain VADER, texts/s", "vader_texts_per_s", "/s", ""),
        ("Skill (3 models x 3 horizons, bootstrap), posts/s", "skill_posts_per_s", "/s", ""),
        ("Skill without the bootstrap, posts/s", "skill_posts_per_s_no_bootstrap", "/s", ""),
        ("Ensemble time-to-score p50, ms", "ensemble_p50_ms", "ms", ""),
        ("Ensemble time-to-score p99, ms", "ensemble_p99_ms", "ms",
         f"<= {DEADLINE_MS + SLACK_MS:.0f}"),
        ("Groq (50 ms) in time, share", "groq_in_time_share", "", ""),
        ("Claude (400 ms) in time, share", "claude_in_time_share", "", "late: revisions"),
        ("FinBERT in time, share", "finbert_in_time_share", "", ""),
        ("Late revisions published", "late_revisions", "", ""),
    ]
    print(f"{'figure':<44} {'value':>12}  goal")
    for label, key, _, goal in rows:
        if key in figures:
            print(f"{label:<44} {figures[key]:>12,.2f}  {goal}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
