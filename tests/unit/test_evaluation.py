"""Evaluation figures and ``stocktracker eval-sentiment`` with the hosted models on local servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocktracker.connectors.simulated.llm_servers import serve_in_thread
from stocktracker.domain.evaluation import accuracy, label_name, macro_f1
from stocktracker.sentiment.evaluate import read_labelled
from stocktracker.streams.commands.cli import main


def test_accuracy_and_macro_f1_by_hand() -> None:
    truth = ["bullish", "bullish", "bearish", "neutral"]
    pred = ["bullish", "neutral", "bearish", "bearish"]
    assert accuracy(truth, pred) == 0.5
    # bearish: tp1 fp1 fn0 -> 2/3; bullish: tp1 fn1 -> 2/3; neutral: tp0 -> 0
    assert macro_f1(truth, pred) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert macro_f1(truth, truth) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="against"):
        accuracy(truth, pred[:2])


def test_label_codes() -> None:
    assert [label_name(c) for c in ("0", "1", "2", "Bullish")] == [
        "bearish", "bullish", "neutral", "bullish"]
    with pytest.raises(ValueError, match="not 0"):
        label_name("3")


def test_bad_csv_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('text,label\n"fine",1\n"broken",up\n')
    with pytest.raises(ValueError, match=r"bad.csv:3"):
        read_labelled(path)
    (tmp_path / "nohead.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        read_labelled(tmp_path / "nohead.csv")


ROWS = [("$SPY to the moon, loading 600c 🚀", 1), ("Buying puts, $SPY is about to crash", 0),
        ("CPI at 8:30 tomorrow", 2), ("Massive beat and raised guidance, $NVDA ripping", 1),
        ("Downgraded to sell, price target cut, $TSLA dumping", 0), ("What time is the Fed?", 2)]


def test_eval_cli_with_every_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv_path = tmp_path / "set.csv"
    csv_path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in ROWS))
    out = tmp_path / "figures.json"
    with serve_in_thread() as server:
        server.faults += ["malformed"]  # one answer is nonsense: counted, not fatal
        for key, value in {"SENTIMENT_FINBERT": "off", "SENTIMENT_GROQ_API_KEY": "k",
                           "SENTIMENT_ANTHROPIC_API_KEY": "k", "SENTIMENT_GROQ_BASE_URL": server.url,
                           "SENTIMENT_ANTHROPIC_BASE_URL": server.url,
                           "SENTIMENT_DEADLINE_MS": "1000"}.items():
            monkeypatch.setenv(key, value)
        result = CliRunner().invoke(main, ["eval-sentiment", str(csv_path), "--json", str(out),
                                           "--concurrency", "1"])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert {"vader", "lexicon", "groq", "claude", "ensemble", "ensemble_deadline"} <= set(figures)
    assert figures["lexicon"]["accuracy"] == 1.0 and figures["ensemble"]["accuracy"] == 1.0
    assert figures["groq"]["answered"] + figures["claude"]["answered"] == 11
    assert all(0 <= f["macro_f1"] <= 1 and f["ms_per_text"] >= 0 for f in figures.values())
    assert "ensemble" in result.output and "macro-F1" in result.output


def test_eval_cli_refuses_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nx,9\n")
    result = CliRunner().invoke(main, ["eval-sentiment", str(path)])
    assert result.exit_code != 0 and "bad.csv:2" in result.output
