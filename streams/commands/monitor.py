"""A read-only view of a running pipeline: counts, latency from traces, P&L.

Used by the demo's live display and its report, and by the benchmarks.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from typing import Any

from confluent_kafka import Consumer

from stocktracker.domain.book import Fill, Position, apply
from stocktracker.domain.latency import stage_latencies, summarize
from stocktracker.domain.positions import unrealized
from stocktracker.schemas.codec import Codec, DecodeError
from stocktracker.streams.core.logs import kafka_logged
from stocktracker.streams.core.topics import RECORDS, topic_name

# which stage's latency each topic's records tell
STAGE_OF = {"posts": "ingest", "scores": "score", "sentiment": "aggregate",
            "signals": "signal", "orders": "execute"}
REPORT_TOPICS = ("posts", "scores", "signals", "orders", "fills", "deadletter")


class Monitor:
    """Consumes every topic of a run from the beginning and keeps score."""

    def __init__(self, bootstrap: str, codec: Codec, prefix: str = "",
                 keep: tuple[str, ...] = ()) -> None:
        self.codec = codec
        self.prefix = prefix
        self._names = {topic_name(prefix, t): t for t in RECORDS}
        self._consumer = Consumer(kafka_logged({
            "bootstrap.servers": bootstrap,
            "group.id": f"monitor-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
        }))
        self._consumer.subscribe(list(self._names))
        self.counts: Counter[str] = Counter()
        self.order_status: Counter[str] = Counter()
        self.by_underlying: dict[str, Counter[str]] = {}
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.positions: dict[str, Position] = {}
        self.marks: dict[str, float] = {}
        self.last: dict[str, dict[str, Any]] = {}
        self.undecodable = 0
        self._timed_orders: set[str] = set()
        self.keep = keep
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def poll(self, timeout: float = 0.1, max_records: int = 5000) -> int:
        """Consume what is there (up to ``max_records``); returns how many were read."""
        read = 0
        while read < max_records:
            msg = self._consumer.poll(timeout if read == 0 else 0)
            if msg is None:
                break
            if msg.error():
                continue
            read += 1
            self._handle(self._names.get(msg.topic() or "", ""), msg.value() or b"")
        return read

    def _handle(self, topic: str, value: bytes) -> None:
        if not topic:
            return
        self.counts[topic] += 1
        try:
            record = self.codec.decode(RECORDS[topic], value)
        except DecodeError:
            self.undecodable += 1
            return
        self.last[topic] = record
        if topic in self.keep:
            self.records[topic].append(record)
        first_time = topic != "orders" or record["client_order_id"] not in self._timed_orders
        if topic == "orders":
            self._timed_orders.add(record["client_order_id"])
        if topic in STAGE_OF and first_time:  # an order's later states repeat its trace
            lat = stage_latencies(record["trace"])
            stage = STAGE_OF[topic]
            if stage in lat:
                self.latency[stage].append(lat[stage])
            if topic == "orders" and "post_to_order" in lat:
                self.latency["post_to_order"].append(lat["post_to_order"])
        if topic in ("signals", "fills"):  # per underlying: the demo trades several
            ticker = record["ticker" if topic == "signals" else "underlying"]
            self.by_underlying.setdefault(ticker, Counter())[topic] += 1
        if topic == "orders":
            self.order_status[record["status"]] += 1
        elif topic == "fills":  # each execution once, as the book applies it
            fill = Fill.from_record(record)
            self.positions[fill.symbol] = apply(self.positions.get(fill.symbol)
                                                or Position(fill.symbol), fill, "").position
        elif topic == "quotes":
            self.marks[record["symbol"]] = (record["bid"] + record["ask"]) / 2

    def pnl(self) -> dict[str, float]:
        """Realised and unrealised P&L (unrealised at the latest mid)."""
        realized = sum(p.realized_pnl for p in self.positions.values())
        open_pnl = sum(unrealized({"qty": p.qty, "avg_price": p.avg_price},
                                  self.marks.get(s, p.avg_price))
                       for s, p in self.positions.items() if p.qty)
        return {"realized": round(realized, 2), "unrealized": round(open_pnl, 2),
                "total": round(realized + open_pnl, 2)}

    def latency_report(self) -> dict[str, dict[str, float]]:
        """p50/p95/p99 (ms) per stage and post-to-order."""
        return {stage: summarize(values) for stage, values in self.latency.items()}

    def report(self) -> dict[str, Any]:
        """The demo's JSON summary."""
        return {
            "counts": {t: self.counts.get(t, 0) for t in REPORT_TOPICS},
            "counts_all": dict(self.counts),
            "orders_by_status": dict(self.order_status),
            "latency_ms": self.latency_report(),
            "pnl": self.pnl(),
            "underlyings": {t: dict(c) for t, c in sorted(self.by_underlying.items())},
            "undecodable": self.undecodable,
        }

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()
