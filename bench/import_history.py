"""Imported history's figures, against one throwaway local broker (or a given one):

- ``import_posts_per_s``: a generated Reddit dump of 100k posts (NDJSON) through
  ``import posts``'s reading, the live ingest's processing and the producer; side by side,
  the same file read and processed without producing (``import_posts_process_per_s``).
- ``imported_day_wall_s``: one session imported (its minute bars from the local Alpaca
  server, a CSV of its chatter) and backtested from the topics, as ``stocktracker
  backtest --from --to`` does (reading the range, the simulation, the report).

Used by bench/backtest.py; on its own:

    python bench/import_history.py [--posts 100000] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.connectors.alpaca.limiter import RateLimiter
from stocktracker.connectors.history.market import DoneMarkers, MarketImportConfig, import_market
from stocktracker.connectors.history.market_source import AlpacaHistory, MarketCache
from stocktracker.connectors.history.posts import ImportReport, import_posts
from stocktracker.connectors.history.produce import produce_imported
from stocktracker.connectors.ingest import processor_from_settings
from stocktracker.connectors.simulated.alpaca_history import generate_history
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.connectors.simulated.post_history import (
    session_chatter,
    write_csv,
    write_reddit_dump,
)
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.backtest import recorded_items, run_backtest
from stocktracker.streams.commands.import_market import sessions_between
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import IngestSettings, KafkaSettings, SentimentSettings, Settings

DAY = date(2024, 2, 1)
KEY, SECRET = "PKBENCH", "bench-secret"


def measure_posts(bootstrap: str, count: int, workdir: Path) -> dict[str, float]:
    """The dump imported into a fresh prefix, and the same file processed only."""
    dump = workdir / "dump.ndjson"
    write_reddit_dump(dump, count, datetime(2024, 2, 1, 14, 30, tzinfo=UTC))
    ingest = IngestSettings(_env_file=None)  # type: ignore[call-arg]
    figures: dict[str, float] = {"import_posts": float(count)}
    started = time.perf_counter()
    report = ImportReport()
    kept = sum(1 for item in import_posts([dump], processor_from_settings(ingest, ("SPY",)), report)
               if isinstance(item, dict))
    figures["import_posts_process_per_s"] = count / (time.perf_counter() - started)
    prefix = f"benchposts{uuid.uuid4().hex[:6]}."
    ensure_topics(bootstrap, prefix, 2, 1)
    try:
        producer = RecordProducer(bootstrap, SingleObjectCodec(), prefix)
        started = time.perf_counter()
        report = ImportReport()
        delivery = produce_imported(import_posts([dump], processor_from_settings(ingest, ("SPY",)),
                                                 report), producer, flush_timeout=120)
        took = time.perf_counter() - started
        if not delivery.complete or delivery.delivered["posts"] != kept:
            raise RuntimeError(f"posts not all delivered: {delivery.as_dict()}")
        figures.update({"import_posts_per_s": count / took, "import_posts_s": took,
                        "import_posts_kept": float(kept)})
    finally:
        delete_topics(bootstrap, topics_with_prefix(bootstrap, prefix))
    return figures


def measure_day(bootstrap: str, workdir: Path, seed: int = 5) -> dict[str, float]:
    """One session imported into a fresh prefix, then backtested from the topics."""
    sessions = sessions_between(DAY, DAY)
    prefix = f"benchday{uuid.uuid4().hex[:6]}."
    ensure_topics(bootstrap, prefix, 2, 1)
    settings = Settings(kafka=KafkaSettings(_env_file=None, bootstrap_servers=bootstrap,  # type: ignore[call-arg]
                                            topic_prefix=prefix),
                        sentiment=SentimentSettings(_env_file=None, finbert="off",  # type: ignore[call-arg]
                                                    llm_calls_per_minute=0))
    try:
        with serve_in_thread(AlpacaServer(KEY, SECRET)) as server:
            server.history.load(generate_history("SPY", sessions, seed=seed, listed_each_side=8))
            history = AlpacaHistory(KEY, SECRET, MarketCache(workdir / "cache"), RateLimiter(100_000),
                                    trading_url=server.url, data_url=server.url)
            [market] = import_market(history, RecordProducer(bootstrap, SingleObjectCodec(), prefix),
                                     sessions, ["SPY"], MarketImportConfig(strikes_each_side=6),
                                     DoneMarkers(workdir / "cache", prefix))
            history.close()
        csv_path = workdir / "day.csv"
        bursts = [(datetime(2024, 2, 1, h, m, tzinfo=UTC), d) for h, m, d in
                  ((15, 30, 1), (17, 0, -1), (19, 0, 1))]
        write_csv(csv_path, session_chatter(datetime(2024, 2, 1, 14, 35, tzinfo=UTC), 380, bursts))
        delivery = produce_imported(
            import_posts([csv_path], processor_from_settings(settings.ingest, ("SPY",)),
                         ImportReport()), RecordProducer(bootstrap, SingleObjectCodec(), prefix))
        if market.status != "imported" or not delivery.complete:
            raise RuntimeError(f"the day was not imported: {market.status}, {delivery.as_dict()}")
        started = time.perf_counter()
        items, rescore = recorded_items(settings, SingleObjectCodec(), sessions[0].open_us,
                                        sessions[0].close_us + 60_000_000)
        result = run_backtest(settings, items, rescore=rescore)
        took = time.perf_counter() - started
    finally:
        delete_topics(bootstrap, topics_with_prefix(bootstrap, prefix))
    return {"imported_day_wall_s": took, "imported_day_events": float(len(items)),
            "imported_day_trades": float(result.report["trades"])}


def measure_all(bootstrap: str | None, posts: int = 100_000) -> dict[str, float]:
    """Both figures, against ``bootstrap`` or a throwaway local broker."""
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-bench-history-"))
    if bootstrap:
        return {**measure_posts(bootstrap, posts, workdir), **measure_day(bootstrap, workdir)}
    with kafka_local.throwaway(workdir / "kafka") as cfg:
        return {**measure_posts(cfg.bootstrap, posts, workdir), **measure_day(cfg.bootstrap, workdir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of a local one")
    args = parser.parse_args()
    for key, value in measure_all(args.bootstrap, args.posts).items():
        print(f"{key:<34}{value:>14,.2f}")


if __name__ == "__main__":
    main()
