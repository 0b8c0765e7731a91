"""Backtest benchmark: one generated trading day through the agents (streams/simulation.py).

Events are the replayed posts and quotes; every record the agents make on the way (scores,
sentiment, signals, orders, fills, positions) is handled too (``records_handled``). Goal:
a full day in under a minute on the team's 2-core machine. Side by side, the same items
only encoded and decoded (the codec's share of the time).

    python bench/backtest.py [--seed 7] [--json PATH] [--no-import]

The import figures, against one real (throwaway) broker: ``import_quotes_per_s``
(``stocktracker import market`` over a generated month of minute bars served by the local
Alpaca server, bench/import_market.py), ``import_posts_per_s`` (a generated Reddit dump of
100k posts) and ``imported_day_wall_s`` (one imported session backtested from the topics;
both bench/import_history.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.backtest import run_backtest, sessions_before, synthetic_items
from stocktracker.streams.core.settings import SentimentSettings, Settings

GOAL_DAY_S = 60.0


def imported(seed: int, bootstrap: str | None) -> dict[str, float]:
    """``import_quotes_per_s``, ``import_posts_per_s`` and ``imported_day_wall_s`` (with
    their side-by-side figures), against one broker."""
    from bench.import_history import measure_day, measure_posts
    from bench.import_market import measure
    from stocktracker.streams.commands import kafka_local

    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-bench-import-"))

    def run(on: str) -> dict[str, float]:
        return {**measure(on, seed), **measure_posts(on, 100_000, workdir),
                **measure_day(on, workdir)}

    if bootstrap:
        return run(bootstrap)
    with kafka_local.throwaway(workdir / "kafka") as cfg:
        return run(cfg.bootstrap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-import", action="store_true",
                        help="skip the import figures (they start a local Kafka broker)")
    parser.add_argument("--bootstrap", default=None, help="the import figures' broker (default: "
                        "a throwaway local one)")
    args = parser.parse_args()
    settings = Settings(sentiment=SentimentSettings(_env_file=None, finbert="off",  # type: ignore[call-arg]
                                                    llm_calls_per_minute=0))
    day = sessions_before(datetime.now(UTC).date(), 1)
    started = time.perf_counter()
    items = synthetic_items(day, args.seed)
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    result = run_backtest(settings, items)
    simulate_s = time.perf_counter() - started
    codec = SingleObjectCodec()
    started = time.perf_counter()
    for item in items:
        if item.topic == "quotes":
            codec.decode("Quote", codec.encode("Quote", item.record))
    codec_s = time.perf_counter() - started
    events_per_s = len(items) / simulate_s
    figures = {"events_per_s": events_per_s, "day_wall_s": generate_s + simulate_s,
               "generate_s": generate_s, "simulate_s": simulate_s, "events": float(len(items)),
               "records_handled": float(result.report["records_handled"]),
               "codec_share": codec_s / simulate_s, "trades": float(result.report["trades"])}
    print(f"\nbacktest benchmark: one generated day ({day[0]}), seed {args.seed}")
    print(f"{'figure':<46}{'value':>12}  goal")
    rows = [("replayed events (posts + quotes)", "events", ""),
            ("records handled by the agents", "records_handled", ""),
            ("events per second through the agents", "events_per_s", ""),
            ("generate the day, s", "generate_s", ""),
            ("simulate the day, s", "simulate_s", ""),
            ("day wall time, s", "day_wall_s", f"< {GOAL_DAY_S:g}"),
            ("codec round trips of the quotes / simulate", "codec_share", ""),
            ("trades", "trades", "")]
    for label, key, goal in rows:
        print(f"{label:<46}{figures[key]:>12.3f}  {goal}")
    print(f"day wall time / goal = {figures['day_wall_s'] / GOAL_DAY_S:.2f} (below 1 meets it)")
    if not args.no_import:
        figures.update(imported(args.seed, args.bootstrap))
        print(f"import market, a generated month ({figures['import_quotes']:,.0f} quotes): "
              f"{figures['import_quotes_per_s']:,.0f} quotes/s from the local server, "
              f"{figures['import_cached_quotes_per_s']:,.0f} quotes/s from the cache")
        print(f"import posts, a generated Reddit dump ({figures['import_posts']:,.0f} posts): "
              f"{figures['import_posts_per_s']:,.0f} posts/s into Kafka, "
              f"{figures['import_posts_process_per_s']:,.0f} posts/s read and processed only")
        print(f"one imported day backtested from the topics: {figures['imported_day_wall_s']:.2f} s "
              f"({figures['imported_day_events']:,.0f} events; a generated day: "
              f"{figures['day_wall_s']:.2f} s, {figures['events']:,.0f} events)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
