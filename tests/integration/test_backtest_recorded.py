"""A backtest of recorded topics on the real broker: the range is found and replayed through
the agents, the run's records go to topics of its own, and the live topics are untouched."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, TopicPartition

from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.cli import main
from tests.integration.helpers import record_morning

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 24)


def end_offsets(bootstrap: str, names: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"o{uuid.uuid4().hex[:6]}"})
    try:
        meta = consumer.list_topics(timeout=10)
        return {(n, p): consumer.get_watermark_offsets(TopicPartition(n, p), timeout=10)[1]
                for n in names for p in meta.topics[n].partitions}
    finally:
        consumer.close()


def test_a_recorded_morning_is_backtested_into_its_own_topics(kafka_bootstrap: str,
                                                              tmp_path: Path) -> None:
    live = f"live{uuid.uuid4().hex[:6]}."
    ensure_topics(kafka_bootstrap, live, 2, 1)
    counts = record_morning(kafka_bootstrap, live, DAY, hours=3)
    assert counts["posts"] > 100 and counts["quotes"] > 1000
    live_topics = topics_with_prefix(kafka_bootstrap, live)
    before = end_offsets(kafka_bootstrap, live_topics)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC_PREFIX": live,
           "KAFKA_PARTITIONS": "2", "SENTIMENT_FINBERT": "off"}
    try:
        outcome = CliRunner().invoke(main, [
            "backtest", "--from", "2026-11-24 09:30", "--to", "2026-11-24 12:30",
            "--report", str(tmp_path)], env=env)
        assert outcome.exit_code == 0, outcome.output
        report = json.loads((tmp_path / "report.json").read_text())
        assert report["source"] == "recorded" and report["rescored"] is True
        assert report["signals"] > 0 and report["trades"] > 0 and report["failures"] == 0
        run = report["run_prefix"]
        assert run.startswith("bt-") and run != live
        mine = topics_with_prefix(kafka_bootstrap, run)
        written = end_offsets(kafka_bootstrap, mine)
        assert sum(v for (n, _), v in written.items() if n == f"{run}orders") > 0
        assert sum(v for (n, _), v in written.items() if n == f"{run}posts") == counts["posts"]
        assert end_offsets(kafka_bootstrap, live_topics) == before  # nothing written live
    finally:
        delete_topics(kafka_bootstrap, topics_with_prefix(kafka_bootstrap, live)
                      + topics_with_prefix(kafka_bootstrap, "bt-"))
