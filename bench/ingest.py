"""Ingest benchmark: receive-to-Kafka-acknowledged latency, and the processing rate.

1. Latency: a local X API (its own event loop, in a thread) streams tweets at a steady
   rate to the real tweepy client in ``XSource``; ``IngestService`` cleans, extracts,
   deduplicates and ranks them and produces to a real Kafka broker (started here on free
   ports unless ``--bootstrap`` is given). Per post: broker acknowledgement (delivery report)
   minus the moment the source received the line.
2. Processing (``bench/ingest_processing.py``): cleaning + ticker extraction + dedup +
   relevance on one core, posts/s.

    python bench/ingest.py [--rate 200] [--seconds 15] [--bootstrap HOST:PORT] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.connectors.ingest import IngestService, processor_from_settings
from stocktracker.connectors.simulated.x_server import FakeXServer
from stocktracker.connectors.x.config import XSettings
from stocktracker.connectors.x.source import XSource
from stocktracker.domain.latency import summarize
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.sentiment.io_loop import BackgroundLoop
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.core.producer import RecordProducer

GOAL_P99_MS = 20.0
GOAL_RATE = 20_000.0
TOKEN = "bench-token"
WORDS = ["calls", "puts", "printing", "ripping", "dumping", "breakout", "Fed", "CPI", "0DTE",
         "gamma", "squeeze", "support", "resistance", "moon", "🚀", "📉", "tendies", "bagholder"]


def tweet_text(n: int) -> str:
    """Distinct texts (nothing deduplicated away) that all mention $SPY."""
    picks = [WORDS[(n * k + k * k) % len(WORDS)] for k in range(1, 7)]
    return f"$SPY {' '.join(picks)} take {n} at {500 + n % 97}"


async def latency(bootstrap: str, rate: float, seconds: float) -> dict[str, float]:
    prefix = f"benchingest{uuid.uuid4().hex[:6]}."
    ensure_topics(bootstrap, prefix, 2, 1)
    io = BackgroundLoop("x-server")
    server = FakeXServer(bearer_token=TOKEN, heartbeat_s=1.0)
    await io.run(server.__aenter__())
    settings = XSettings(_env_file=None, x_bearer_token=TOKEN,  # type: ignore[call-arg, arg-type]
                              x_base_url=server.url, min_relevance=0.0)
    source = XSource(settings, ("SPY",), backoff_base_s=0.05)
    producer = RecordProducer(bootstrap, SingleObjectCodec(), prefix)
    service = IngestService(settings, [source], producer, processor_from_settings(settings, ("SPY",)))
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        while not server.connected:
            await asyncio.sleep(0.05)
        for n in range(200):  # warm up: connections, the dedup index, the allocator
            await io.run(server.push(server.tweet(tweet_text(10**6 + n), "warm", cashtags=("SPY",))))
        while len(service.ack_us) < 200:
            await asyncio.sleep(0.05)
        service.ack_us.clear()
        total = int(rate * seconds)
        start = asyncio.get_running_loop().time()
        for n in range(total):
            delay = start + n / rate - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
            tweet = server.tweet(tweet_text(n), f"user{n % 300}", followers=2000, likes=5,
                                 cashtags=("SPY",))
            io.submit(server.push(tweet))
        for _ in range(200):
            if len(service.ack_us) >= total:
                break
            await asyncio.sleep(0.05)
        acked = list(service.ack_us)
    finally:
        stop.set()
        await task
        await io.run(server.__aexit__(None, None, None))
        io.stop()
        delete_topics(bootstrap, topics_with_prefix(bootstrap, prefix))
    s = summarize([us / 1000 for us in acked])
    return {"receive_to_ack_p50_ms": s["p50"], "receive_to_ack_p99_ms": s["p99"],
            "receive_to_ack_max_ms": s["max"], "acked": float(len(acked)), "sent": float(total),
            "rate_posts_per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of a local one")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from bench.ingest_processing import measure

    figures: dict[str, float] = dict(measure())
    if args.bootstrap is not None:
        figures.update(asyncio.run(latency(args.bootstrap, args.rate, args.seconds)))
    else:
        workdir = Path(tempfile.mkdtemp(prefix="stocktracker-bench-ingest-"))
        with kafka_local.throwaway(workdir / "kafka") as cfg:
            figures.update(asyncio.run(latency(cfg.bootstrap, args.rate, args.seconds)))

    print(f"\ningest: {figures['sent']:.0f} tweets at {args.rate:.0f}/s through tweepy, the "
          f"processing chain and the idempotent producer to a real broker")
    print(f"{'figure':<36}{'value':>12}  goal / ratio")
    p99 = figures["receive_to_ack_p99_ms"]
    rate = figures["processing_posts_per_s"]
    print(f"{'receive-to-ack p50, ms':<36}{figures['receive_to_ack_p50_ms']:>12.2f}")
    print(f"{'receive-to-ack p99, ms':<36}{p99:>12.2f}  < {GOAL_P99_MS:.0f}: ratio "
          f"{p99 / GOAL_P99_MS:.2f} (below 1 meets it)")
    print(f"{'acknowledged / sent':<36}{figures['acked']:>7.0f} / {figures['sent']:.0f}")
    print(f"{'processing, posts/s (one core)':<36}{rate:>12,.0f}  >= {GOAL_RATE:,.0f}: ratio "
          f"{rate / GOAL_RATE:.2f} (above 1 meets it)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
