"""Research on recordings: sweep and A/B over the recorded sessions of a date range."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.cli import main
from tests.integration.helpers import record_morning

pytestmark = pytest.mark.integration
RECORDED = (date(2026, 11, 23), date(2026, 11, 24))  # Monday and Tuesday; Friday the 20th not


def test_sweep_and_ab_replay_the_recorded_sessions_of_a_date_range(kafka_bootstrap: str,
                                                                   tmp_path: Path) -> None:
    live = f"rec{uuid.uuid4().hex[:6]}."
    ensure_topics(kafka_bootstrap, live, 2, 1)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC_PREFIX": live,
           "KAFKA_PARTITIONS": "2", "SENTIMENT_FINBERT": "off"}
    runner = CliRunner()
    try:
        empty = runner.invoke(main, ["ab", "--from", "2026-11-23", "--to", "2026-11-24",
                                     "--a", str(_config(tmp_path, "a", "")), "--b",
                                     str(_config(tmp_path, "b", "")), "--report",
                                     str(tmp_path / "none")], env=env)
        assert empty.exit_code != 0 and "nothing recorded" in empty.output, empty.output

        for n, day in enumerate(RECORDED):
            assert record_morning(kafka_bootstrap, live, day, hours=2, seed=7 + n)["posts"] > 50
        quiet = _config(tmp_path, "quiet", "SIGNAL_TICKERS=QQQ\n")  # never trades SPY
        outcome = runner.invoke(main, [
            "ab", "--from", "2026-11-20", "--to", "2026-11-24", "--a",
            str(_config(tmp_path, "default", "")), "--b", str(quiet), "--workers", "1",
            "--report", str(tmp_path / "ab")], env=env)
        assert outcome.exit_code == 0, outcome.output
        ab = json.loads((tmp_path / "ab" / "ab.json").read_text())
        assert ab["a"]["days"] == [d.isoformat() for d in RECORDED]
        assert ab["difference"]["days"] == 2
        assert ab["a"]["report"]["trades"] > 0 and ab["b"]["report"]["trades"] == 0
        assert ab["difference"]["mean_daily"] == pytest.approx(
            -sum(ab["a"]["daily_returns"]) / 2)

        outcome = runner.invoke(main, [
            "sweep", "--from", "2026-11-23", "--to", "2026-11-24", "--param",
            "SIGNAL_MIN_POSTS=4,400", "--metric", "trades", "--workers", "1",
            "--report", str(tmp_path / "sweep")], env=env)
        assert outcome.exit_code == 0, outcome.output
        results = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["results"]
        assert [r["params"]["SIGNAL_MIN_POSTS"] for r in results] == ["4", "400"]
        assert results[0]["report"]["trades"] > 0 and results[1]["report"]["trades"] == 0
        assert all(r["days"] == [d.isoformat() for d in RECORDED] for r in results)
    finally:
        delete_topics(kafka_bootstrap, topics_with_prefix(kafka_bootstrap, live))


def _config(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.env"
    path.write_text(text)
    return path
