"""An imported day backtested end to end on the real broker, through the CLI: market history
from the local Alpaca server (alpaca-py) and posts from a CSV file go onto the topics, then
``stocktracker backtest`` replays that range twice and writes the same report both times,
with the benchmark rows taken from the imported quotes themselves; ``sweep`` finds the
imported session as it finds a recorded one."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stocktracker.connectors.replay.recorded import read_range
from stocktracker.connectors.simulated.alpaca_history import generate_history
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.connectors.simulated.post_history import session_chatter, write_csv
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.admin import delete_topics, topics_with_prefix
from stocktracker.streams.commands.cli import main
from stocktracker.streams.commands.import_market import sessions_between

pytestmark = pytest.mark.integration

KEY, SECRET = "PKBTKEY", "bt-secret"
DAY = date(2024, 2, 1)  # a Thursday: New York is UTC-5
BURSTS = ((15, 30, 1), (17, 0, -1), (19, 0, 1))  # UTC hour, minute, direction of the chatter
# the wall-clock parts of a report: how long this run's stages took, and its topics' prefix
WALL_CLOCK_KEYS = ("latency", "run_prefix")


def without_wall_clock(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in WALL_CLOCK_KEYS}


def test_an_imported_day_backtests_to_the_same_report_twice(kafka_bootstrap: str,
                                                           tmp_path: Path) -> None:
    sessions = sessions_between(DAY, DAY)
    data = generate_history("SPY", sessions, seed=5, listed_each_side=8, gap_share=0.05)
    prefix = f"imp{uuid.uuid4().hex[:8]}."
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "KAFKA_TOPIC_PREFIX": prefix,
           "KAFKA_PARTITIONS": "2", "ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET,
           "IMPORT_CACHE_DIR": str(tmp_path / "cache"), "SENTIMENT_FINBERT": "off"}
    posts = tmp_path / "posts.csv"
    written = write_csv(posts, session_chatter(
        datetime(2024, 2, 1, 14, 35, tzinfo=UTC), 380,
        [(datetime(2024, 2, 1, h, m, tzinfo=UTC), d) for h, m, d in BURSTS]))
    try:
        with serve_in_thread(AlpacaServer(KEY, SECRET, page_size=1000)) as server:
            server.history.load(data)
            market = CliRunner().invoke(main, ["import", "market", "--from", str(DAY), "--to",
                                               str(DAY), "--underlying", "SPY", "--strikes", "6"],
                                        env={**env, "ALPACA_TRADING_URL": server.url,
                                             "ALPACA_DATA_URL": server.url})
        assert market.exit_code == 0, market.output
        imported = CliRunner().invoke(main, ["import", "posts", "--format", "csv", str(posts)],
                                      env=env)
        assert imported.exit_code == 0, imported.output

        reports = []
        for run in ("first", "second"):
            out = tmp_path / run
            result = CliRunner().invoke(main, ["backtest", "--from", "2024-02-01 09:30", "--to",
                                               "2024-02-01 16:01", "--report", str(out)], env=env)
            assert result.exit_code == 0, result.output
            reports.append(json.loads((out / "report.json").read_text()))
        first, second = reports
        assert first["source"] == "recorded" and first["rescored"] is True
        assert 0 < first["skill"]["posts"] <= written
        assert first["signals"] > 0 and first["trades"] > 0 and first["failures"] == 0
        assert first["bar_quote_limits_s"] == {"max_quote_age_s": 75.0, "stale_position_s": 75.0}
        assert without_wall_clock(first) == without_wall_clock(second)

        # the benchmark rows from the imported quotes: bought at the day's first ask, sold
        # at its last bid; never trading earns nothing
        spy = [i.record for i in read_range(kafka_bootstrap, prefix, SingleObjectCodec(),
                                            sessions[0].open_us, sessions[0].close_us + 120_000_000,
                                            topics=("quotes",))
               if i.record["symbol"] == "SPY"]
        assert spy and all(q["derived"] for q in spy)
        held = first["benchmark"]["buy_and_hold"]
        expected = spy[-1]["bid"] / spy[0]["ask"] - 1
        assert held["total_return"] == pytest.approx(expected, abs=2e-4)
        assert first["benchmark"]["never_trading"]["total_return"] == 0
        [day] = first["days"]
        assert day["day"] == str(DAY) and day["trades"] == first["trades"]
        assert day["underlying_return"] == pytest.approx(expected)

        # the research commands find the imported session like a recorded one
        sweep = CliRunner().invoke(main, [
            "sweep", "--from", str(DAY), "--to", str(DAY), "--param", "SIGNAL_MIN_POSTS=4,400",
            "--metric", "trades", "--workers", "1", "--report", str(tmp_path / "sweep")], env=env)
        assert sweep.exit_code == 0, sweep.output
        results = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["results"]
        assert [r["params"]["SIGNAL_MIN_POSTS"] for r in results] == ["4", "400"]
        assert all(r["days"] == [str(DAY)] for r in results)
        assert results[0]["report"]["trades"] > 0 and results[1]["report"]["trades"] == 0
    finally:
        delete_topics(kafka_bootstrap, topics_with_prefix(kafka_bootstrap, prefix)
                      + topics_with_prefix(kafka_bootstrap, "bt-"))
