"""``stocktracker import market`` into a real broker, from the local Alpaca server through
alpaca-py: two sessions' derived quotes on `quotes` at the bars' own times, found by the
recorded-range reader; a second run skips both days and asks Alpaca nothing."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, TopicPartition

from stocktracker.connectors.history.market_quotes import BAR_US, parse_time_us
from stocktracker.connectors.replay.recorded import read_range
from stocktracker.connectors.simulated.alpaca_history import generate_history
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.domain.pricing import occ_symbol
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.admin import delete_topics, topics_with_prefix
from stocktracker.streams.commands.cli import main
from stocktracker.streams.commands.import_market import sessions_between
from stocktracker.streams.core.topics import topic_name
from tests.waiting import eventually

pytestmark = pytest.mark.integration

KEY, SECRET = "PKIMPORTKEY", "import-secret"
FIRST, LAST = "2024-02-01", "2024-02-05"  # Thu, Fri, (weekend), Mon: three sessions
STRIKES = 2


def kafka_stamps(bootstrap: str, topic: str, expected: int) -> list[tuple[int, dict[str, Any]]]:
    """(Kafka timestamp ms, Quote) of every record of ``topic``, once it holds ``expected``."""
    codec = SingleObjectCodec()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    got: list[tuple[int, dict[str, Any]]] = []
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])

        def enough() -> bool:
            for msg in consumer.consume(1000, timeout=0.2):
                if msg.error() is None:
                    got.append((msg.timestamp()[1], codec.decode("Quote", msg.value() or b"", topic)))
            return len(got) >= expected

        eventually(enough, timeout=30)
        return got
    finally:
        consumer.close()


def test_two_sessions_land_on_quotes_at_the_bars_times_and_a_rerun_skips_them(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    sessions = sessions_between(date.fromisoformat(FIRST), date.fromisoformat(LAST))
    assert [str(s.day) for s in sessions] == ["2024-02-01", "2024-02-02", "2024-02-05"]
    data = generate_history("SPY", sessions, seed=11, listed_each_side=5, gap_share=0.1)
    prefix = f"mkt{uuid.uuid4().hex[:8]}."
    with serve_in_thread(AlpacaServer(KEY, SECRET, page_size=400)) as server:
        server.history.load(data)
        env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC_PREFIX": prefix,
               "KAFKA_PARTITIONS": "2", "ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET,
               "ALPACA_TRADING_URL": server.url, "ALPACA_DATA_URL": server.url,
               "IMPORT_CACHE_DIR": str(tmp_path)}
        args = ["import", "market", "--from", FIRST, "--to", "2024-02-02", "--underlying", "SPY",
                "--strikes", str(STRIKES)]
        try:
            first = CliRunner().invoke(main, args, env=env)
            assert first.exit_code == 0, first.output
            summary = json.loads(next(line for line in first.output.splitlines()
                                      if line.startswith("{")))
            assert summary["days"] == {"imported": 2} and summary["contracts"] == 2 * 2 * 2 * STRIKES

            expected: dict[str, set[int]] = {"SPY": set()}
            for session in sessions[:2]:
                opened = next(b["o"] for b in data.stock_bars["SPY"]
                              if parse_time_us(b["t"]) == session.open_us)
                strikes = sorted({round(opened) + k for k in range(-5, 6)})
                kept = [s for s in strikes if s < opened][-STRIKES:] \
                    + [s for s in strikes if s >= opened][:STRIKES]
                for strike in kept:
                    for kind in ("call", "put"):
                        symbol = occ_symbol("SPY", session.day, kind, strike)
                        expected[symbol] = {parse_time_us(b["t"]) + BAR_US
                                            for b in data.option_bars[symbol]}
                expected["SPY"] |= {parse_time_us(b["t"]) + BAR_US for b in data.stock_bars["SPY"]
                                    if session.open_us <= parse_time_us(b["t"]) < session.close_us}
            total = sum(map(len, expected.values()))
            assert summary["quotes"] == total

            found = list(read_range(kafka_bootstrap, prefix, SingleObjectCodec(),
                                    sessions[0].open_us, sessions[1].close_us + BAR_US,
                                    topics=("quotes",)))
            assert len(found) == total
            got: dict[str, set[int]] = {}
            for item in found:
                assert item.key == "SPY" and item.record["derived"] is True
                assert item.event_us == item.record["event_time"]
                assert item.record["bid"] < item.record["ask"]
                got.setdefault(item.record["symbol"], set()).add(item.event_us)
            assert got == expected
            stamps = kafka_stamps(kafka_bootstrap, topic_name(prefix, "quotes"), total)
            assert all(ts == q["event_time"] // 1000 for ts, q in stamps)

            server.requests.clear()
            again = CliRunner().invoke(main, args, env=env)
            assert again.exit_code == 0, again.output
            assert json.loads(next(line for line in again.output.splitlines()
                                   if line.startswith("{")))["days"] == {"skipped": 2}
            assert server.requests == []
        finally:
            delete_topics(kafka_bootstrap, topics_with_prefix(kafka_bootstrap, prefix))


def test_without_keys_the_import_says_which_are_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["import", "market", "--from", FIRST, "--to", LAST],
                                env={"ALPACA_API_KEY": "", "ALPACA_SECRET_KEY": "",
                                     "IMPORT_CACHE_DIR": str(tmp_path)})
    assert result.exit_code != 0 and "ALPACA_API_KEY" in result.output
