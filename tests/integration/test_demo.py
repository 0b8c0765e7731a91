"""`make demo`'s command on the real broker: a generated day through the whole pipeline,
its report, and nothing left behind."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.streams.commands.admin import topics_with_prefix
from stocktracker.streams.commands.cli import main
from stocktracker.streams.commands.demo import demo_day
from tests.waiting import eventually

pytestmark = pytest.mark.integration


def test_the_demo_trades_a_generated_day_and_cleans_up(kafka_bootstrap: str,
                                                       tmp_path: Path) -> None:
    report_path = tmp_path / "demo.json"
    outcome = CliRunner().invoke(main, [
        "demo", "--duration", "30", "--no-live", "--day", "2026-11-24", "--report",
        str(report_path)], env={"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                                "SENTIMENT_FINBERT": "off"})
    assert outcome.exit_code == 0, outcome.output
    report = json.loads(report_path.read_text())
    counts = report["counts"]
    # one score per ticker a post names: the posts naming two underlyings score twice
    session = MarketCalendar().session_on(date(2026, 11, 24))
    assert session is not None
    pairs = len(demo_day(session, 7).pair_posts)
    assert counts["posts"] > 100 and counts["posts"] < counts["scores"] <= counts["posts"] + pairs
    assert counts["signals"] > 0 and counts["fills"] > 0 and counts["deadletter"] == 0
    assert report["orders_by_status"].get("filled", 0) > 0 and report["counts_all"]["quotes"] > 0
    assert set(report["pnl"]) == {"realized", "unrealized", "total"}
    # two underlyings by default, each with its own signals and trades
    per = report["underlyings"]
    assert {"SPY", "QQQ"} <= set(per), per
    assert all(per[t].get("signals", 0) > 0 and per[t].get("fills", 0) > 0 for t in ("SPY", "QQQ"))
    assert report["latency_ms"]["post_to_order"]["n"] > 0
    assert report["undecodable"] == 0 and report["day"] == "2026-11-24"
    # the run's topics are deleted (Kafka finishes a deletion after acknowledging it)
    eventually(lambda: not topics_with_prefix(kafka_bootstrap, f"{report['run_id']}."))
