"""The research workflow's runs: sweeps in worker processes, walk-forward, A/B on the same
replay (streams/commands/research.py and the commands)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocktracker.streams.commands.backtest import sessions_before
from stocktracker.streams.commands.cli import main
from stocktracker.streams.commands.research import Job, ab_run, run_job, settings_with, walk_forward_run

DAYS = tuple(sessions_before(date(2026, 11, 25), 3))
QUIET = {"SENTIMENT_FINBERT": "off"}


def test_a_job_reports_its_parameters_and_daily_returns() -> None:
    result = run_job(Job({**QUIET, "SIGNAL_BULLISH_THRESHOLD": "0.3"}, DAYS[:2], seed=5))
    assert result["params"]["SIGNAL_BULLISH_THRESHOLD"] == "0.3"
    assert len(result["daily_returns"]) == 2 and result["report"]["trades"] > 0
    growth = (1 + result["daily_returns"][0]) * (1 + result["daily_returns"][1]) - 1
    assert growth == pytest.approx(result["report"]["total_return"], abs=1e-9)


def test_a_typo_in_a_parameter_name_fails() -> None:
    with pytest.raises(ValueError, match="RISK_MAX_ORDER_PER_MINUTE"):
        settings_with({"RISK_MAX_ORDER_PER_MINUTE": "3"})


def test_ab_on_the_same_configuration_finds_no_difference() -> None:
    same = ab_run(QUIET, QUIET, DAYS[:1], workers=1, progress=False, seed=5)
    assert same["difference"]["mean_daily"] == 0 and not same["difference"]["significant"]
    # no trading at all against the default: B is worse exactly by A's returns
    idle = ab_run(QUIET, {**QUIET, "SIGNAL_TICKERS": "QQQ"}, DAYS[:1], workers=1,
                  progress=False, seed=5)
    assert idle["b"]["report"]["trades"] == 0 and idle["b"]["daily_returns"] == [0.0]
    expected = -idle["a"]["daily_returns"][0]
    assert idle["difference"]["mean_daily"] == pytest.approx(expected)


def test_walk_forward_tests_the_choice_on_the_next_day() -> None:
    configs = [{"TRADING_PROFIT_TARGET_PCT": "0.3"}, {"TRADING_PROFIT_TARGET_PCT": "0.6"}]
    result = walk_forward_run(configs, DAYS, 2, 1, QUIET, "total_return", workers=1,
                              progress=False, seed=5)
    [split] = result["splits"]
    assert split["train"] == [d.isoformat() for d in DAYS[:2]]
    assert split["test"] == [DAYS[2].isoformat()]
    assert split["chosen"]["TRADING_PROFIT_TARGET_PCT"] in ("0.3", "0.6")
    assert result["out_of_sample_return"] == pytest.approx(split["test_report"]["total_return"],
                                                           abs=1e-9)


def test_the_sweep_command_ranks_configurations_run_in_processes(tmp_path: Path) -> None:
    env = {**QUIET}
    outcome = CliRunner().invoke(main, [
        "sweep", "--synthetic-days", "1", "--seed", "5", "--workers", "2",
        "--param", "TRADING_PROFIT_TARGET_PCT=0.3,0.6", "--metric", "total_return",
        "--report", str(tmp_path)], env=env)
    assert outcome.exit_code == 0, outcome.output
    results = json.loads((tmp_path / "sweep.json").read_text())["results"]
    assert len(results) == 2
    returns = [r["report"]["total_return"] for r in results]
    assert returns == sorted(returns, reverse=True)
    assert {r["params"]["TRADING_PROFIT_TARGET_PCT"] for r in results} == {"0.3", "0.6"}
