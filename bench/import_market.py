"""``import market``'s throughput: a generated month of minute bars from the local Alpaca
server, through alpaca-py and the importer, into a real broker (a throwaway one unless a
bootstrap is given). Used by bench/backtest.py (``import_quotes_per_s``).

Side by side in the same run: the same month again with ``--force`` from the disk cache
(no HTTP), which leaves the conversion and Kafka's share.

    python bench/import_market.py [--seed 7] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.connectors.alpaca.limiter import RateLimiter
from stocktracker.connectors.history.market import DoneMarkers, MarketImportConfig, import_market
from stocktracker.connectors.history.market_source import AlpacaHistory, MarketCache
from stocktracker.connectors.simulated.alpaca_history import generate_history
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.import_market import sessions_between
from stocktracker.streams.core.producer import RecordProducer

MONTH = (date(2024, 3, 1), date(2024, 3, 31))  # 21 sessions
KEY, SECRET = "PKBENCH", "bench-secret"


def measure(bootstrap: str, seed: int = 7, strikes: int = 5) -> dict[str, float]:
    """Import a generated month twice (from the server, then from the cache); the figures."""
    sessions = sessions_between(*MONTH)
    started = time.perf_counter()
    data = generate_history("SPY", sessions, seed=seed, listed_each_side=strikes + 3)
    generate_s = time.perf_counter() - started
    prefix = f"benchimport{uuid.uuid4().hex[:6]}."
    ensure_topics(bootstrap, prefix, 2, 1)
    cache = Path(tempfile.mkdtemp(prefix="stocktracker-bench-import-"))
    config = MarketImportConfig(strikes_each_side=strikes)
    figures: dict[str, float] = {"import_sessions": float(len(sessions)),
                                 "import_generate_s": generate_s}
    try:
        with serve_in_thread(AlpacaServer(KEY, SECRET)) as server:
            server.history.load(data)
            for label, force in (("import", False), ("import_cached", True)):
                producer = RecordProducer(bootstrap, SingleObjectCodec(), prefix)
                history = AlpacaHistory(KEY, SECRET, MarketCache(cache), RateLimiter(100_000),
                                        trading_url=server.url, data_url=server.url)
                started = time.perf_counter()
                reports = import_market(history, producer, sessions, ["SPY"], config,
                                        DoneMarkers(cache, prefix), force=force)
                took = time.perf_counter() - started
                history.close()
                if any(r.status != "imported" for r in reports):
                    raise RuntimeError(f"{label}: {[(r.day, r.status, r.error) for r in reports]}")
                quotes = sum(r.quotes for r in reports)
                figures.update({f"{label}_quotes": float(quotes), f"{label}_s": took,
                                f"{label}_quotes_per_s": quotes / took,
                                f"{label}_requests": float(sum(r.requests for r in reports))})
    finally:
        delete_topics(bootstrap, topics_with_prefix(bootstrap, prefix))
    return figures


def measure_local(seed: int = 7) -> dict[str, float]:
    """:func:`measure` against a throwaway local broker."""
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-bench-import-kafka-"))
    with kafka_local.throwaway(workdir / "kafka") as cfg:
        return measure(cfg.bootstrap, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of a local one")
    args = parser.parse_args()
    figures = measure(args.bootstrap, args.seed) if args.bootstrap else measure_local(args.seed)
    for key, value in figures.items():
        print(f"{key:<34}{value:>14,.2f}")


if __name__ == "__main__":
    main()
