"""Pipeline benchmark on the real broker with the lexicon model.

1. Latency: after a few seconds of warm-up traffic, posts at a steady rate (default
   100/s) through a worker; per-stage and post-to-order p50/p99 from the records' traces,
   the score stage per 10 s of the run, and the slowest orders stage by stage.
2. Throughput: a backlog of posts already in Kafka, then a worker started on it; the
   score stage's rate is its records over the span of their score traces.

    python bench/pipeline.py [--rate 100] [--seconds 60] [--warm-up 5] [--backlog 20000]
                             [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stocktracker.domain.latency import stage_latencies, summarize
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.local_run import Run, isolated_settings
from stocktracker.streams.samples import at, chain, post

GOAL_P99_MS = 50.0
GOAL_SCORE_RATE = 1000.0
BENCH_ENV = {"RISK_MAX_QUOTE_AGE_S": "1000000", "RISK_MAX_ORDERS_PER_MINUTE": "1000",
             "RISK_MAX_POSITION_CONTRACTS": "100000", "RISK_MAX_TOTAL_CONTRACTS": "100000"}
TEXTS = ["$SPY breaking out, loading calls 🚀", "$SPY calls printing, very bullish",
         "bought more $SPY calls, bulls in control 📈", "watching $SPY today"]


def send_posts(run: Run, tag: str, rate: float, seconds: float, first_us: int) -> int:
    """Posts at ``rate`` per second for ``seconds`` (3 s of event time apart), each
    stamped as it is produced; returns how many."""
    total = int(rate * seconds)
    start = time.monotonic()
    for n in range(total):
        due = start + n / rate
        while (delay := due - time.monotonic()) > 0:
            time.sleep(delay)
        record = post(f"{tag}{n}", f"author{n % 50}", TEXTS[n % len(TEXTS)],
                      first_us + n * 3_000_000)
        run.producer.send("posts", "Post", record["id"], record)
        run.producer.poll(0)
    run.producer.flush(30)
    return total


def wait_for_scores(run: Run, count: int, timeout_s: float) -> None:
    """Read until ``count`` scores are in, or ``timeout_s`` has passed (the figures then
    say how many were)."""
    deadline = time.monotonic() + timeout_s
    while len(run.records("scores")) < count and time.monotonic() < deadline:
        pass


def warm_up(run: Run, rate: float, seconds: float, timeout_s: float = 120.0) -> float:
    """Traffic at the measured rate before measuring, so the figures are the steady state
    and not the worker's and broker's first second (joining, recovering tables, the JVM
    compiling its hot paths). The posts are over an hour of event time before the measured
    ones (other windows, the cool-down long over) and nothing they cause is counted.
    Returns the seconds until the first one was scored."""
    started = time.monotonic()
    first = post("w-first", "warm-up", TEXTS[-1], at(12, 0))
    run.send("posts", "Post", first["id"], first)
    while not run.records("scores"):
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"the worker scored nothing in {timeout_s:.0f} s")
    ready_s = time.monotonic() - started
    total = send_posts(run, "w", rate, seconds, at(12, 1)) + 1
    wait_for_scores(run, total, timeout_s)
    time.sleep(1.0)  # what the last warm-up posts cause downstream
    run.records("orders")
    run.monitor.latency.clear()
    for kept in run.monitor.records.values():
        kept.clear()
    return ready_s


def timeline(scores: list[dict[str, Any]], rate: float, bucket_s: float = 10.0
             ) -> list[dict[str, float]]:
    """Score-stage latency per ``bucket_s`` of the run (by when each post was sent), to
    show where the tail falls."""
    buckets: dict[int, list[float]] = {}
    for score in scores:
        if not score["post_id"].startswith("b"):
            continue
        n = int(score["post_id"][1:])
        lat = stage_latencies(score["trace"]).get("score")
        if lat is not None:
            buckets.setdefault(int(n / rate // bucket_s), []).append(lat)
    return [{"from_s": b * bucket_s, **summarize(v)} for b, v in sorted(buckets.items())]


def slowest_orders(orders: list[dict[str, Any]], count: int = 3) -> list[dict[str, Any]]:
    """The slowest orders (first record of each), with their place in the run and their
    per-stage latency."""
    seen: dict[str, dict[str, Any]] = {}
    for order in orders:
        seen.setdefault(order["client_order_id"], order)
    timed = [{"nth": n + 1, **stage_latencies(o["trace"])}
             for n, o in enumerate(seen.values()) if o.get("intent") == "open"]
    return sorted(timed, key=lambda o: -o.get("post_to_order", 0.0))[:count]


def latency_run(bootstrap: str, workdir: Path, rate: float, seconds: float,
                warm_up_s: float = 5.0) -> dict[str, object]:
    run = Run(isolated_settings(bootstrap, workdir, "bench"), workdir, worker_env=BENCH_ENV)
    try:
        run.start_worker()
        for quote in chain(at(14, 31)):
            run.send("quotes", "Quote", "SPY", quote)
        ready_s = warm_up(run, rate, warm_up_s) if warm_up_s > 0 else 0.0
        total = send_posts(run, "b", rate, seconds, at(14, 32))
        wait_for_scores(run, total, 30)
        time.sleep(2)
        run.records("orders")
        return {"posts": total, "latency_ms": run.monitor.latency_report(),
                "orders": len(run.monitor.records["orders"]), "ready_s": ready_s,
                "timeline": timeline(run.monitor.records["scores"], rate),
                "slowest_orders": slowest_orders(run.monitor.records["orders"])}
    finally:
        run.close()


def throughput_run(bootstrap: str, workdir: Path, backlog: int) -> dict[str, float]:
    run = Run(isolated_settings(bootstrap, workdir, "bench"), workdir, worker_env=BENCH_ENV)
    try:
        for n in range(backlog):
            record = post(f"t{n}", f"author{n % 50}", TEXTS[n % len(TEXTS)],
                          at(14, 32) + n * 1_000_000)
            run.producer.send("posts", "Post", record["id"], record)
        run.producer.flush(60)
        run.start_worker()
        wait_for_scores(run, backlog, 300)
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
    parser.add_argument("--warm-up", type=float, default=5.0, metavar="SECONDS",
                        help="traffic before measuring; 0 measures from the moment the "
                             "worker's group is stable (start-up included)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-bench-"))
    with kafka_local.throwaway(workdir / "kafka") as cfg:
        lat = latency_run(cfg.bootstrap, workdir, args.rate, args.seconds, warm_up_s=args.warm_up)
        thr = throughput_run(cfg.bootstrap, workdir, args.backlog)
    report = lat["latency_ms"]
    assert isinstance(report, dict)
    print(f"\npipeline on the real broker, lexicon model, {args.rate:.0f} posts/s for "
          f"{args.seconds:.0f}s ({lat['posts']} posts, {lat['orders']} orders)")
    print(f"{'stage':<15}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for stage, s in report.items():
        print(f"{stage:<15}{s['n']:>7}{s['p50']:>10.2f}{s['p95']:>10.2f}{s['p99']:>10.2f}")
    warm = (f"after {args.warm_up:.0f} s of warm-up traffic; the first post took "
            f"{lat['ready_s']:.1f} s" if args.warm_up else "no warm-up: start-up included")
    print(f"\nscore stage over the run ({warm})")
    print(f"{'from s':>7}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    timeline_rows = lat["timeline"]
    assert isinstance(timeline_rows, list)
    for row in timeline_rows:
        print(f"{row['from_s']:>7.0f}{row['n']:>7}{row['p50']:>10.2f}{row['p99']:>10.2f}"
              f"{row['max']:>10.2f}")
    print("\nslowest orders (nth of the run; ms per stage)")
    slow = lat["slowest_orders"]
    assert isinstance(slow, list)
    for order in slow:
        print(f"  #{order.pop('nth')}: " + ", ".join(f"{k} {v:.1f}" for k, v in order.items()))
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
