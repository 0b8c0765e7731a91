"""Chaos benchmark: a trading day through real Kafka while its workers are killed.

    python bench/chaos.py [--json PATH] [--kills 14] [--seconds 150] [--seed 7]
                          [--broker simulated|alpaca] [--records PATH]

What runs
    A throwaway Kafka broker (:mod:`streams.commands.kafka_local`), the run's topics and four
    workers of one app, ``worker-1`` to ``worker-4``, alike: each scores, one owns the
    account, one holds its standby replicas. The broker is the
    simulated one, its account kept in Kafka (``TRADING_BROKER=simulated``, the default),
    or the local Alpaca server in this process, reached through alpaca-py.

The bench's parts
    ``bench/chaos_day.py``      the day replayed, and the feeder that sends it
    ``bench/chaos_plan.py``     the chaos in its order (kills, the kill switch, the Kafka
                                broker restart), the workers' start and the wait to settle
    ``bench/chaos_kills.py``    the workers and what is done to them
    ``bench/chaos_kafka.py``    reading the run's Kafka: changelogs, the consumer group
    ``bench/chaos_account.py``  what the broker says at the end
    ``bench/chaos_figures.py``  the figures, how each is measured, and what explains them
    this file                   the run's settings, the run itself, the report

Worker logs (``<name>.log``, with a ``[chaos]`` line at each kill and start) stay in the
work dir printed at the end; the broker, the workers, their data and the topics do not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chaos_account import START_CASH, alpaca_account, broker_realized, simulated_account
from bench.chaos_day import ROUNDS, Feeder, alpaca_quotes, day_steps, kafka_quotes
from bench.chaos_figures import Outcome, diagnose, failovers, figures
from bench.chaos_kafka import table_state
from bench.chaos_kills import Chaos
from bench.chaos_plan import refused, settle, start_all, unleash
from stocktracker.domain.book import distinct_fills
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.kafka_local import KafkaLocalConfig
from stocktracker.streams.commands.local_run import KEEP, Run, isolated_settings
from stocktracker.streams.core.producer import RecordProducer

BENCH_ENV = {
    "SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO", "SIGNAL_COOLDOWN_S": "300",
    "RISK_MAX_QUOTE_AGE_S": "1000000", "RISK_MAX_ORDERS_PER_MINUTE": "1000",
    "RISK_MAX_POSITION_CONTRACTS": "100000", "RISK_MAX_TOTAL_CONTRACTS": "100000",
    "RISK_MAX_PREMIUM_PER_POSITION": "1000000", "RISK_MAX_TOTAL_PREMIUM": "1000000",
    "RISK_MAX_DAILY_LOSS": "1000000", "TRADING_RECONCILE_S": "10"}
ALPACA_KEY, ALPACA_SECRET = "PKCHAOSBENCH01", "chaos-bench-secret-0123456789"
GOALS = {"kills": ">= 10", "duplicate_entry_orders": "0", "fills_applied_twice": "0",
         "position_mismatches": "0", "pnl_error_usd": "0", "posts_lost": "0",
         "orders_after_kill_switch": "0", "failover_s_p50": "< 15", "failover_s_max": "< 15"}


@contextlib.contextmanager
def alpaca_server(broker: str) -> Iterator[Any]:
    """The local Alpaca server (None for the simulated broker)."""
    if broker != "alpaca":
        yield None
        return
    from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread

    with serve_in_thread(AlpacaServer(api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)) as server:
        yield server


def worker_env(server: Any) -> dict[str, str]:
    env = dict(BENCH_ENV)
    if server is not None:
        env.update({"TRADING_BROKER": "alpaca", "ALPACA_API_KEY": ALPACA_KEY,
                    "ALPACA_SECRET_KEY": ALPACA_SECRET, "ALPACA_TRADING_URL": server.url,
                    "ALPACA_DATA_URL": server.url, "ALPACA_STREAM_URL": server.stream_url,
                    "ALPACA_DATA_STREAM_URL": server.data_stream_url,
                    "ALPACA_POLL_INTERVAL_S": "0.5",
                    # the day runs ~140 times faster than real time: a chain every second,
                    # and Alpaca's 200 requests a minute lifted (as bench/execution.py does)
                    "ALPACA_CHAIN_REFRESH_S": "1", "ALPACA_REQUESTS_PER_MINUTE": "6000"})
    return env


def chaos_run(cfg: KafkaLocalConfig, workdir: Path, args: argparse.Namespace) -> Outcome:
    """Start, feed the day, unleash the chaos, settle, read the broker and the book; the
    workers are killed and the topics deleted whatever happens."""
    with alpaca_server(args.broker) as server:
        run = Run(isolated_settings(cfg.bootstrap, workdir, "chaos"), workdir,
                  worker_env=worker_env(server))
        run.monitor.keep = (*KEEP, "posts", "ticks")
        chaos = Chaos(run, cfg, random.Random(args.seed))
        producer = RecordProducer(cfg.bootstrap, run.codec, run.settings.kafka.topic_prefix)
        feeder = Feeder(run, day_steps(args.seconds),
                        alpaca_quotes(server) if server else kafka_quotes(run))
        if server is not None:  # the server's clock is the day's
            server.account.clock = lambda: datetime.fromtimestamp(feeder.event_us / 1e6, UTC)
        try:
            start_all(chaos, feeder)
            feeder.start()
            unleash(chaos, feeder, producer, args.kills, args.seconds)
            if feeder.error is not None:
                raise RuntimeError(f"the feeder failed: {feeder.error!r}")
            unsettled = settle(chaos, feeder, 120.0)
            print(f"  {time.strftime('%H:%M:%S')} "
                  + (f"NOT settled: {unsettled}" if unsettled else "settled"), flush=True)
            account = alpaca_account(server) if server else simulated_account(run)
            book = table_state(cfg.bootstrap, f"{run.settings.stream.app_id}-positions-changelog")
            return Outcome(chaos, account, book, figures(chaos, account, book, feeder.sent_posts),
                           unsettled, diagnose(chaos, account, book, feeder.sent_posts))
        finally:
            feeder.stop.set()
            for proc in chaos.procs.values():
                run.kill(proc)
            run.close()


def report(out: Outcome, broker: str) -> None:
    """The figures with their goals, then what explains them."""
    roles = ", ".join(f"{n} ({r})" for n, r in out.chaos.roles.items())
    print(f"\nchaos bench: {broker} broker, workers {roles}, {ROUNDS} rounds, real Kafka"
          + (f" (NOT settled: {out.unsettled})" if out.unsettled else ""))
    print(f"{'figure':<26}{'value':>10}   goal")
    for key, value in out.figures.items():
        shown = "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<26}{shown:>10}   {GOALS[key]}")
    report_failovers(out.chaos)
    report_counts(out)
    for note in out.notes:
        print(f"  {note}")
    print(f"worker logs: {out.chaos.run.workdir}/*.log")


def report_failovers(chaos: Chaos) -> None:
    print("\nkills: " + ", ".join(f"{d.name} ({d.why})" for d in chaos.deaths))
    print("per owner killed: seconds to the next owner's first tick or entry decision; the "
          "longest wait of a signal that came meanwhile")
    for death, took, wait in failovers(chaos.run, chaos.deaths):
        print(f"  {datetime.fromtimestamp(death.at, UTC):%H:%M:%S} {death.name:<8} "
              f"{death.why:<28} {took:6.2f} s   "
              + (f"a signal waited {wait:.2f} s" if wait is not None else "no signal meanwhile"))


def report_counts(out: Outcome) -> None:
    records, account, chaos = out.chaos.run.monitor.records, out.account, out.chaos
    filled = {o["client_order_id"] for o in records["orders"]
              if o.get("intent") == "open" and o.get("status") == "filled"}
    print(f"\nposts {len(records['posts'])}, signals {len({s['id'] for s in records['signals']})} "
          f"({len(records['signals'])} records), entries the "
          f"broker accepted {len(account.entries)} (filled {len(filled)}), refused by the kill "
          f"switch {len(refused(chaos.run, chaos.switch))}, broker executions "
          f"{len(account.executions)}, fills on the topic {len(records['fills'])} "
          f"({len(distinct_fills(records['fills']))} distinct), dead letters "
          f"{len(records['deadletter'])}")
    print(f"broker: cash {account.cash:,.2f} (start {START_CASH:,.0f}), realised "
          f"{broker_realized(account.executions):,.2f}, open contracts "
          f"{sum(account.positions.values())}; book: realised "
          f"{sum(float(p.get('realized_pnl', 0.0)) for p in out.book.values()):,.2f}, open "
          f"{sum(int(p.get('qty', 0)) for p in out.book.values())}")
    print(f"Kafka broker restart: {chaos.broker_down_s:.1f} s; kill switch "
          + ("confirmed by the owner" if chaos.switch.seen_on else "NOT confirmed by the owner in")
          + f" {chaos.switch.confirmed - chaos.switch.sent:.1f} s after it was sent, resumed "
          f"{chaos.switch.resumed - chaos.switch.confirmed:.1f} s later")


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """librdkafka writes its connection errors (hundreds while the broker restarts, more
    while the clients of the run wind down) to fd 2: send them to ``path`` for the rest of
    the process; the real stderr comes back only for an exception's traceback."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    except BaseException:
        sys.stderr.flush()
        os.dup2(saved, 2)
        raise
    finally:
        os.close(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--kills", type=int, default=14)
    parser.add_argument("--seconds", type=float, default=150.0, help="wall time of the day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--broker", choices=("simulated", "alpaca"), default="simulated")
    parser.add_argument("--records", type=Path, default=None,
                        help="write every record read (JSON lines: topic, record) for digging")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM too
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-chaos-"))
    began = time.monotonic()
    print(f"chaos bench: {args.kills} kills over a {args.seconds:.0f} s day; logs in {workdir}",
          flush=True)
    try:
        with stderr_to(workdir / "bench-stderr.log"), \
                kafka_local.throwaway(workdir / "kafka") as cfg:
            outcome = chaos_run(cfg, workdir, args)
    finally:
        for path in workdir.iterdir():  # the broker's and the workers' data; logs stay
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
    report(outcome, args.broker)
    print(f"wall time {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(outcome.figures, indent=2) + "\n")
    if args.records:
        with args.records.open("w") as out:
            for topic, kept in outcome.chaos.run.monitor.records.items():
                for record in kept:
                    out.write(json.dumps({"topic": topic, "record": record}, default=str) + "\n")


if __name__ == "__main__":
    main()
