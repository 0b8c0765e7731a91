"""Pipeline benchmark on the real broker with the lexicon model.

1. Latency: posts at a steady rate (default 100/s) through a worker; per-stage and
   post-to-order p50/p99 from the records' traces.
2. Throughput: a backlog of posts already in Kafka, then a worker started on it; the
   score stage's rate is its records over the span of their score traces.

    python bench/pipeline.py [--rate 100] [--seconds 60] [--backlog 20000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.latency import summarize
from streams import kafka_local
from streams.demo import free_port
from streams.settings import KafkaSettings, Settings, StreamSettings
from tests.integration.helpers import Run, at, chain, post

GOAL_P99_MS = 50.0
GOAL_SCORE_RATE = 1000.0
BENCH_ENV = {"RISK_MAX_QUOTE_AGE_S": "1000000", "RISK_MAX_ORDERS_PER_MINUTE": "1000",
             "RISK_MAX_POSITION_CONTRACTS": "100000", "RISK_MAX_TOTAL_CONTRACTS": "100000"}
TEXTS = ["$SPY breaking out, loading calls 🚀", "$SPY calls printing, very bullish",
         "bought more $SPY calls, bulls in control 📈", "watching $SPY today"]


def settings(bootstrap: str, workdir: Path) -> Settings:
    run = f"bench{uuid.uuid4().hex[:8]}"
    return Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"{run}.",
                                        partitions=2),
                    stream=StreamSettings(app_id=run, data_dir=workdir / run,
                                          web_port=free_port()))


def latency_run(bootstrap: str, workdir: Path, rate: float, seconds: float) -> dict[str, object]:
    run = Run(settings(bootstrap, workdir), workdir, worker_env=BENCH_ENV)
    try:
        run.start_worker()
        for quote in chain(at(14, 31)):
            run.send("quotes", "Quote", "SPY", quote)
        total = int(rate * seconds)
        start = time.monotonic()
        for n in range(total):
            due = start + n / rate
            while (delay := due - time.monotonic()) > 0:
                time.sleep(delay)
            record = post(f"b{n}", f"author{n % 50}", TEXTS[n % len(TEXTS)],
                          at(14, 32) + n * 3_000_000)
            run.producer.send("posts", "Post", record["id"], record)
            run.producer.poll(0)
        run.producer.flush(30)
        deadline = time.monotonic() + 30
        while len(run.records("scores")) < total and time.monotonic() < deadline:
            pass
        time.sleep(2)
        run.records("orders")
        return {"posts": total, "latency_ms": run.monitor.latency_report(),
                "orders": len(run.monitor.records["orders"])}
    finally:
        run.close()


def throughput_run(bootstrap: str, workdir: Path, backlog: int) -> dict[str, float]:
    run = Run(settings(bootstrap, workdir), workdir, worker_env=BENCH_ENV)
    try:
        for n in range(backlog):
            record = post(f"t{n}", f"author{n % 50}", TEXTS[n % len(TEXTS)],
                          at(14, 32) + n * 1_000_000)
            run.producer.send("posts", "Post", record["id"], record)
        run.producer.flush(60)
        run.start_worker()
        deadline = time.monotonic() + 300
        while len(run.records("scores")) < backlog and time.monotonic() < deadline:
            pass
        scores = run.monitor.records["scores"]
        first_in = min(s["trace"]["score_in"] for s in scores)
        last_out = max(s["trace"]["score_out"] for s in scores)
        return {"scored": len(scores), "posts_per_s": len(scores) / ((last_out - first_in) / 1e6)}
    finally:
        run.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=20000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-bench-"))
    cfg = kafka_local.config_from_env(port=free_port(), controller_port=free_port(),
                                      data_dir=workdir / "kafka")
    kafka_local.up(cfg)
    try:
        lat = latency_run(cfg.bootstrap, workdir, args.rate, args.seconds)
        thr = throughput_run(cfg.bootstrap, workdir, args.backlog)
    finally:
        kafka_local.down(cfg)
    report = lat["latency_ms"]
    assert isinstance(report, dict)
    print(f"\npipeline on the real broker, lexicon model, {args.rate:.0f} posts/s for "
          f"{args.seconds:.0f}s ({lat['posts']} posts, {lat['orders']} orders)")
    print(f"{'stage':<15}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for stage, s in report.items():
        print(f"{stage:<15}{s['n']:>7}{s['p50']:>10.2f}{s['p95']:>10.2f}{s['p99']:>10.2f}")
    p2o = report.get("post_to_order", summarize([]))
    print(f"\npost-to-order p99 {p2o['p99']:.2f} ms vs goal {GOAL_P99_MS:.0f} ms: "
          f"ratio {p2o['p99'] / GOAL_P99_MS:.2f} (below 1 meets the goal)")
    print(f"score stage max {thr['posts_per_s']:.0f} posts/s ({thr['scored']} backlog) vs goal "
          f"{GOAL_SCORE_RATE:.0f}: ratio {thr['posts_per_s'] / GOAL_SCORE_RATE:.2f} "
          "(above 1 meets the goal)")
    figures = {"post_to_order_p50_ms": p2o["p50"], "post_to_order_p99_ms": p2o["p99"],
               "score_stage_max_posts_per_s": thr["posts_per_s"],
               "stages_ms": report, "rate_posts_per_s": args.rate}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
