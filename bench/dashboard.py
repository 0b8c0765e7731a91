"""Dashboard benchmark on the real broker: record-to-emit latency and the event rate it sustains.

1. Latency: records of every kind the dashboard shows (sentiment, signals, orders, fills,
   positions, quotes) produced at a steady rate, quiet (5/s: every record goes out at once)
   and busy (--rate: batched every WEB_EMIT_INTERVAL_MS), each stamped in its trace when sent; the
   dashboard (Kafka feed, Flask-SocketIO over a real websocket, one python-socketio client
   as the browser) measures record-to-emit from the trace; the client measures
   record-to-receipt for trades (their order id carries the send time).
2. Rate: a backlog of records in Kafka, read three ways in one run: a bare consumer (raw
   bytes), a consumer that decodes, and the dashboard's feed (decode, fold into the view,
   queue events), while the emitter sends batches to the client.

    python bench/dashboard.py [--rate 500] [--quiet-rate 5] [--seconds 20] [--backlog 100000]
                              [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import socketio
from confluent_kafka import Consumer, TopicPartition
from pydantic import SecretStr
from werkzeug.serving import make_server

from stocktracker.domain.latency import summarize
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams import samples as rec
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.admin import ensure_topics
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import KafkaSettings, Settings, WebSettings
from stocktracker.streams.core.topics import RECORDS, topic_name
from stocktracker.streams.core.trace import now_us
from stocktracker.web.app import create_app
from stocktracker.web.control import ListWriter
from stocktracker.web.feed import KafkaFeed

TOKEN = "bench-token-0123456789abcdef"
# a busy stream: mostly quotes and sentiment updates, some trading records
MIX = ["quotes"] * 10 + ["sentiment"] * 6 + ["signals", "orders", "fills", "positions"]
TOPICS = sorted(set(MIX))


def record(topic: str, n: int) -> tuple[str, dict[str, Any]]:
    """The n-th record of a topic (key, record), stamped as sent now."""
    sent = now_us()
    trace = {"bench_out": sent}
    if topic == "quotes":
        r = rec.quote(symbol=f"SPY261124C00{580 + n % 20}000", bid=1.0 + n % 7 / 100, ask=1.1)
    elif topic == "sentiment":
        r = rec.sentiment(ticker=("SPY", "QQQ", "IWM")[n % 3], mean=(n % 200 - 100) / 100)
    elif topic == "signals":
        r = rec.signal(sid=f"SPY:bullish:{n}")
    elif topic == "orders":
        r = rec.order(coid=f"st-{n}", sid=f"SPY:bullish:{n}", status="filled", reason=None)
    elif topic == "fills":
        r = rec.fill(coid=f"t-{sent}")  # the browser reads the send time back from the id
    else:
        r = rec.position(qty=n % 5, symbol=f"SPY261124C00{580 + n % 20}000")
    r["trace"] = trace
    return ("SPY", r)


def produce(producer: RecordProducer, count: int, rate: float | None) -> None:
    start = time.monotonic()
    for n in range(count):
        if rate:
            while (delay := start + n / rate - time.monotonic()) > 0:
                time.sleep(delay)
        topic = MIX[n % len(MIX)]
        key, r = record(topic, n)
        producer.send(topic, RECORDS[topic], key, r)
    producer.flush(60)


@contextmanager
def dashboard(settings: Settings) -> Iterator[tuple[KafkaFeed, dict[str, Any]]]:
    """The real thing on loopback: feed, Flask-SocketIO server, and a websocket client."""
    feed = KafkaFeed(settings, SingleObjectCodec())
    app = create_app(settings, feed, ListWriter())
    port = kafka_local.free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen: dict[str, Any] = {"messages": Counter(), "items": 0, "trade_ms": []}
    client = socketio.Client(reconnection=False)

    def on_any(event: str, batch: dict[str, Any]) -> None:
        at = now_us()
        seen["messages"][event] += 1
        seen["items"] += len(batch["items"])
        if event == "trade_executed" and not batch.get("snapshot"):
            seen["trade_ms"] += [(at - int(i["client_order_id"][2:])) / 1000 for i in batch["items"]]

    client.on("*", on_any)
    client.connect(f"http://127.0.0.1:{port}", auth={"token": TOKEN}, transports=["websocket"])
    try:
        yield feed, seen
    finally:
        client.disconnect()
        app.extensions["emitter"].stop()
        feed.stop()
        server.shutdown()


def run_settings(bootstrap: str, replay: int) -> Settings:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    ensure_topics(bootstrap, prefix, 2, 1)
    return Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=2),
                    web=WebSettings(token=SecretStr(TOKEN), replay_records=replay, status_interval_s=1))


def latency_run(bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    settings = run_settings(bootstrap, 0)
    producer = RecordProducer(bootstrap, SingleObjectCodec(), settings.kafka.topic_prefix)
    with dashboard(settings) as (feed, seen):
        time.sleep(3)  # the feed assigns itself the partitions
        produce(producer, int(rate * seconds), rate)
        time.sleep(1)
        metrics = feed.metrics()
    return {"record_to_emit": metrics["latency_ms"].get("record_to_emit", summarize([])),
            "record_to_client": summarize(seen["trade_ms"]), "messages": sum(seen["messages"].values()),
            "emitted": sum(metrics["dashboard"]["emitted"].values()), "records": int(rate * seconds),
            "rate": rate}


def raw_read(bootstrap: str, prefix: str, total: int, decode: bool) -> float:
    """Records/s of a bare consumer over the backlog (optionally decoding each)."""
    codec = SingleObjectCodec()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False})
    names = {topic_name(prefix, t): t for t in TOPICS}
    consumer.assign([TopicPartition(t, p, 0) for t in names for p in (0, 1)])
    read, start = 0, time.monotonic()
    while read < total:
        for msg in consumer.consume(1000, 1.0):
            if not msg.error():
                read += 1
                if decode:
                    codec.decode(RECORDS[names[msg.topic() or ""]], msg.value() or b"")
    elapsed = time.monotonic() - start
    consumer.close()
    return total / elapsed


def rate_run(bootstrap: str, backlog: int) -> dict[str, float]:
    settings = run_settings(bootstrap, backlog)
    prefix = settings.kafka.topic_prefix
    produce(RecordProducer(bootstrap, SingleObjectCodec(), prefix), backlog, None)
    raw = raw_read(bootstrap, prefix, backlog, decode=False)
    decoded = raw_read(bootstrap, prefix, backlog, decode=True)
    with dashboard(settings) as (feed, seen):
        def folded() -> int:
            return sum(feed.view.counts.values())
        deadline = time.monotonic() + 30
        while folded() == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        start, messages0 = time.monotonic(), sum(seen["messages"].values())
        deadline = start + 300
        while folded() < backlog and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.monotonic() - start
        messages = sum(seen["messages"].values()) - messages0
        emitted = feed.metrics()["dashboard"]
    return {"raw_per_s": raw, "decode_per_s": decoded, "events_per_s": folded() / elapsed,
            "messages_per_s": messages / elapsed,
            "items_emitted_per_s": sum(emitted["emitted"].values()) / elapsed,
            "dropped": sum(emitted["dropped"].values()), "coalesced": emitted["coalesced"],
            "backlog": backlog}


def report(args: argparse.Namespace, quiet: dict[str, Any], lat: dict[str, Any],
           thr: dict[str, Any]) -> dict[str, float]:
    """Print the tables and ratios; return the figures for --json."""
    emit, client = lat["record_to_emit"], lat["record_to_client"]
    print(f"\ndashboard on the real broker, {args.seconds:.0f}s per rate")
    print(f"{'latency':<44}{'n':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for run in (quiet, lat):
        print(f"{run['rate']:.0f} records/s: {run['records']} records -> {run['emitted']} items in "
              f"{run['messages']} Socket.IO messages")
        for name, s in (("  record -> Socket.IO emit", run["record_to_emit"]),
                        ("  record -> client receipt (trades)", run["record_to_client"])):
            print(f"{name:<44}{s['n']:>8}{s['p50']:>10.1f}{s['p99']:>10.1f}")
    print(f"busy vs quiet record-to-emit p99: {emit['p99'] / quiet['record_to_emit']['p99']:.2f} "
          "(the batching interval's share)")
    raw = thr["raw_per_s"]
    print(f"\nbacklog of {thr['backlog']} records, read side by side in this run")
    print(f"{'reader':<44}{'per s':>12}{'vs raw':>9}")
    for name, value in (("bare consumer, raw bytes", raw),
                        ("bare consumer + Avro decode", thr["decode_per_s"]),
                        ("dashboard feed: decode, view, events", thr["events_per_s"]),
                        ("Socket.IO items emitted", thr["items_emitted_per_s"]),
                        ("Socket.IO messages at the client", thr["messages_per_s"])):
        print(f"{name:<44}{value:>12.1f}{value / raw:>9.4f}")
    print(f"\nfeed vs decode-only consumer: {thr['events_per_s'] / thr['decode_per_s']:.2f}; "
          f"items emitted per record read: {thr['items_emitted_per_s'] / thr['events_per_s']:.4f} "
          f"({thr['coalesced']} coalesced, {thr['dropped']} over the batch cap)")
    print(f"record-to-emit p99 {emit['p99']:.1f} ms vs the 200 ms budget: ratio {emit['p99'] / 200:.2f}")
    return {"record_to_emit_p99_ms": emit["p99"], "record_to_emit_p50_ms": emit["p50"],
            "record_to_client_p99_ms": client["p99"], "events_per_s": thr["events_per_s"],
            "raw_consume_per_s": raw, "decode_consume_per_s": thr["decode_per_s"],
            "messages_per_s": thr["messages_per_s"], "items_emitted_per_s": thr["items_emitted_per_s"],
            "rate_records_per_s": args.rate, "quiet_record_to_emit_p99_ms": quiet["record_to_emit"]["p99"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="records/s in the latency run")
    parser.add_argument("--quiet-rate", type=float, default=5.0, help="records/s in the quiet run")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-bench-"))
    with kafka_local.throwaway(workdir / "kafka") as cfg:
        quiet = latency_run(cfg.bootstrap, args.quiet_rate, args.seconds)
        lat = latency_run(cfg.bootstrap, args.rate, args.seconds)
        thr = rate_run(cfg.bootstrap, args.backlog)
    figures = report(args, quiet, lat, thr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
