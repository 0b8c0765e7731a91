"""Evaluation figures and ``stocktracker eval-sentiment`` with the hosted models on local servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stocktracker.connectors.simulated.llm_servers import serve_in_thread
from stocktracker.domain.evaluation import (
    TWO_CLASS,
    accuracy,
    band_grid,
    choose_band,
    confusion,
    label_name,
    macro_f1,
    neutral_share,
    per_class,
)
from stocktracker.domain.lexicon import LexiconModel
from stocktracker.domain.sentiment import ModelAnswer, with_band
from stocktracker.sentiment.ensemble import Ensemble, model_bands
from stocktracker.sentiment.evaluate import Answers, choose_bands, figures_of, read_labelled
from stocktracker.streams.commands.cli import main
from stocktracker.streams.core.settings import SentimentSettings


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


# Ten posts, every cell of the matrix filled by hand:
#                 answered bearish  bullish  neutral
# true bearish           3        1        0
# true bullish           1        2        1
# true neutral           0        1        1
TRUTH = ["bearish"] * 4 + ["bullish"] * 4 + ["neutral"] * 2
SAID = ["bearish", "bearish", "bearish", "bullish",
        "bearish", "bullish", "bullish", "neutral",
        "bullish", "neutral"]


def test_per_class_figures_and_confusion_by_hand() -> None:
    assert confusion(TRUTH, SAID) == {"bearish": {"bearish": 3, "bullish": 1, "neutral": 0},
                                      "bullish": {"bearish": 1, "bullish": 2, "neutral": 1},
                                      "neutral": {"bearish": 0, "bullish": 1, "neutral": 1}}
    f = per_class(TRUTH, SAID)
    assert list(f) == ["bearish", "bullish", "neutral"]
    # bearish: called 4, right 3 of 4 true; bullish: called 4, right 2 of 4; neutral: 1 of 2, 1 of 2
    assert (f["bearish"].precision, f["bearish"].recall) == (0.75, 0.75)
    assert (f["bullish"].precision, f["bullish"].recall) == (0.5, 0.5)
    assert (f["neutral"].precision, f["neutral"].recall) == (0.5, 0.5)
    assert [c.f1 for c in f.values()] == pytest.approx([0.75, 0.5, 0.5])
    assert [c.support for c in f.values()] == [4, 4, 2]
    assert macro_f1(TRUTH, SAID) == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert neutral_share(SAID) == 0.2
    nothing = per_class(["bullish"], ["bullish"])["bearish"]  # never true, never said
    assert (nothing.precision, nothing.recall, nothing.f1, nothing.support) == (0, 0, 0, 0)


def test_two_class_counts_a_neutral_answer_as_a_miss() -> None:
    truth = ["bullish", "bullish", "bearish", "bearish"]
    said = ["bullish", "neutral", "bearish", "neutral"]
    answers = Answers(truth, {"lexicon": said}, {"lexicon": [0.5, 0.0, -0.5, 0.01]},
                      {"lexicon": 4}, {"lexicon": 4000})
    two = figures_of(answers, TWO_CLASS)["lexicon"]
    assert two.accuracy == 0.5 and two.neutral_share == 0.5
    assert list(two.per_class) == ["bearish", "bullish"] and list(two.confusion) == ["bearish", "bullish"]
    # each class: precision 1 (never wrongly called), recall 1/2 (the neutral answer missed)
    assert (two.per_class["bullish"].precision, two.per_class["bullish"].recall) == (1.0, 0.5)
    assert two.macro_f1 == pytest.approx(2 / 3)
    assert two.confusion["bullish"] == {"bearish": 0, "bullish": 1, "neutral": 1}
    # over three labels the neutral class would drag the mean down instead
    assert figures_of(answers)["lexicon"].macro_f1 == pytest.approx(2 / 3 * 2 / 3)


def test_band_choice_finds_the_band_that_separates_the_set() -> None:
    # neutral posts score inside 0.18, directional ones beyond 0.22: only 0.2 on the grid is right
    scores = [0.1, -0.15, 0.18, -0.05, 0.22, 0.3, 0.6, -0.22, -0.4, -0.9]
    truth = ["neutral"] * 4 + ["bullish"] * 3 + ["bearish"] * 3
    assert choose_band(truth, scores, band_grid()) == (0.2, pytest.approx(1.0))
    assert band_grid(0.1, 0.025) == (0.0, 0.025, 0.05, 0.075, 0.1)
    # two-class: every neutral answer is a miss, so the smallest band wins
    directional = ([0.03, 0.3, -0.03, -0.3], ["bullish", "bullish", "bearish", "bearish"])
    assert choose_band(directional[1], directional[0], band_grid(), TWO_CLASS)[0] == 0.0
    # ties (0.0 to 0.025 all perfect) keep the band nearest the one in use
    assert choose_band(directional[1], directional[0], band_grid(), TWO_CLASS, prefer=0.02)[0] == 0.025


def test_choose_bands_per_model_against_the_band_in_use() -> None:
    truth = ["neutral", "neutral", "bullish", "bearish"]
    answers = Answers(truth, {"lexicon": ["bullish", "bearish", "bullish", "bearish"],
                              "groq": ["neutral", "neutral", "bullish", "bearish"]},
                      {"lexicon": [0.1, -0.2, 0.5, -0.5], "groq": [0.3, -0.3, 0.8, -0.8]},
                      {"lexicon": 4, "groq": 4}, {"lexicon": 0, "groq": 0})
    chosen = choose_bands(answers, {"lexicon": 0.05, "groq": None, "claude": None})
    assert set(chosen) == {"lexicon", "groq"}  # claude never answered
    assert chosen["lexicon"].band == 0.225 and chosen["lexicon"].macro_f1 == pytest.approx(1.0)
    assert chosen["lexicon"].current_macro_f1 < 1.0
    assert chosen["groq"].current is None and chosen["groq"].current_macro_f1 == pytest.approx(1.0)


def test_with_band_relabels_from_the_score_only_when_a_band_is_set() -> None:
    answer = ModelAnswer("groq", 0.3, 0.8, "neutral")
    assert with_band(answer, None) is answer
    assert with_band(answer, 0.2).label == "bullish" and with_band(answer, 0.4).label == "neutral"
    assert with_band(ModelAnswer("groq", -0.3, 0.8, "bullish"), 0.1).label == "bearish"


class FixedFinbert:
    """FinBERT that reads every post as mildly bullish but calls it neutral."""

    async def score(self, text: str) -> ModelAnswer:
        return ModelAnswer("finbert", 0.3, 0.6, "neutral", 5)


async def _answers(settings: SentimentSettings, text: str) -> dict[str, str]:
    ensemble = Ensemble(settings, finbert=FixedFinbert())
    scoring = await ensemble.score(text)
    final = scoring.first
    async for final in scoring.updates():  # noqa: B007
        pass
    await ensemble.close()
    return {a.model: a.label for a in final.answers} | {"ensemble": final.label}


async def test_each_model_is_labelled_with_its_own_band() -> None:
    defaults = SentimentSettings(finbert="off")
    assert model_bands(defaults) == {"lexicon": 0.05, "finbert": None, "groq": None, "claude": None}
    assert Ensemble(defaults).lexicon.neutral_band == 0.05
    text = "SPY looks a bit higher"
    lexicon_score = LexiconModel().score(text).score
    assert 0.05 < lexicon_score < 0.6
    # defaults: the lexicon's label from neutral_band, FinBERT's own top class
    assert await _answers(SentimentSettings(), text) == {
        "lexicon": "bullish", "finbert": "neutral", "ensemble": "bullish"}
    banded = SentimentSettings(neutral_band_lexicon=0.6, neutral_band_finbert=0.2)
    assert await _answers(banded, text) == {
        "lexicon": "neutral", "finbert": "bullish", "ensemble": "bullish"}
    # neutral_band alone moves the lexicon (no band of its own) and the ensemble
    assert await _answers(SentimentSettings(neutral_band=0.6), text) == {
        "lexicon": "neutral", "finbert": "neutral", "ensemble": "neutral"}


def test_eval_cli_two_class_and_band_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIMENT_FINBERT", "off")
    tagged = [(t, label) for t, label in ROWS if label != 2] + [("SPY", 1)]  # a post it calls neutral
    csv_path = tmp_path / "tags.csv"
    csv_path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in tagged))
    out = tmp_path / "figures.json"
    result = CliRunner().invoke(main, ["eval-sentiment", str(csv_path), "--two-class",
                                       "--choose-bands", "--json", str(out)])
    assert result.exit_code == 0, result.output
    lexicon = json.loads(out.read_text())["lexicon"]
    assert lexicon["accuracy"] == 0.8 and lexicon["neutral_share"] == 0.2
    assert set(lexicon["per_class"]) == {"bearish", "bullish"}
    assert lexicon["confusion"]["bullish"]["neutral"] == 1
    assert {"macro_f1", "ms_per_text", "answered", "rows", "chosen_band"} <= set(lexicon)
    assert "SENTIMENT_NEUTRAL_BAND_LEXICON=" in result.output
    assert "SENTIMENT_NEUTRAL_BAND=" in result.output
    three = tmp_path / "three.csv"
    three.write_text('text,label\n"up",1\n"CPI at 8:30",2\n')
    refused = CliRunner().invoke(main, ["eval-sentiment", str(three), "--two-class"])
    assert refused.exit_code != 0 and "three.csv:3" in refused.output
