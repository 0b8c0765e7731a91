"""The LLM's volatility read: validated with the answer, carried by Score v3, windowed by the
aggregate (once per post, revisions replacing), compared with the measured regime."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import pytest

from stocktracker.domain.aggregate import ScoreItem, merge, stats
from stocktracker.domain.llm_answer import NonsenseAnswer, answer_from
from stocktracker.domain.regime import Regime
from stocktracker.domain.sentiment import ModelAnswer
from stocktracker.domain.vol_read import VolRead, agreement, majority, read_of, regime_at
from stocktracker.domain.vol_risk import VolTrack
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.samples import at
from tests.older_schemas import codec_before

CLAUDE_KEYS = ("expected_volatility", "score_low", "score_high")
ANSWER = {"direction": "bullish", "score": 0.6, "confidence": 0.8, "reasoning": "calls",
          "expected_volatility": "high", "score_low": 0.3, "score_high": 0.9}


def claude(**changes: Any) -> ModelAnswer:
    return answer_from({**ANSWER, **changes}, "claude", 1, label_key="direction",
                       extra_keys=CLAUDE_KEYS)


# --- validation where the answer is read ------------------------------------------------

def test_a_claude_answer_keeps_its_read_and_interval() -> None:
    answer = claude()
    assert answer.extra == {"expected_volatility": "high", "score_low": 0.3, "score_high": 0.9}
    read = read_of([ModelAnswer("lexicon", 0.5, 0.5, "bullish"), answer])
    assert read == VolRead("high", 0.3, 0.9) and read.width == pytest.approx(0.6)


@pytest.mark.parametrize(("changes", "why"), [
    ({"score_low": math.nan}, "score_low"),
    ({"score_high": math.inf}, "score_high"),
    ({"score_low": -math.inf}, "score_low"),
    ({"score_low": 0.8, "score_high": 0.2}, "above"),
    ({"score_low": "0.2"}, "score_low"),
    ({"expected_volatility": "extreme"}, "expected_volatility"),
])
def test_a_bad_read_or_interval_makes_the_answer_nonsense(changes: dict[str, Any],
                                                          why: str) -> None:
    with pytest.raises(NonsenseAnswer, match=why):
        claude(**changes)


def test_a_missing_read_is_no_read_and_groq_is_not_checked_for_one() -> None:
    partial = {k: v for k, v in ANSWER.items() if k not in CLAUDE_KEYS}
    answer = answer_from(partial, "claude", 1, label_key="direction", extra_keys=CLAUDE_KEYS)
    assert read_of([answer]) == VolRead()
    groq = answer_from({**partial, "label": "bullish", "score_low": math.nan}, "groq", 1,
                       label_key="label")
    assert read_of([groq]) == VolRead(None, None, None)


def test_a_score_record_with_a_bad_read_is_refused() -> None:
    assert VolRead.from_record({}) == VolRead()  # a v2 score
    assert VolRead.from_record({"expected_volatility": "low", "score_low": -0.1,
                                "score_high": 0.1}).width == pytest.approx(0.2)
    with pytest.raises(ValueError, match="above"):
        VolRead.from_record({"score_low": 0.5, "score_high": 0.1})
    with pytest.raises(ValueError, match="finite"):
        VolRead.from_record({"score_low": math.nan})
    with pytest.raises(ValueError, match="expected_volatility"):
        VolRead.from_record({"expected_volatility": "HIGH"})


# --- Score v3 ------------------------------------------------------------------------------

SCORE = {"post_id": "p1", "ticker": "SPY", "author": "a", "source": "x", "score": 0.5,
         "confidence": 0.7, "label": "bullish", "event_time": 7, "trace": {"score_out": 9}}


def test_a_v2_score_decodes_with_a_null_read(tmp_path: Path) -> None:
    old = codec_before(tmp_path / "v2", "score.v2")
    assert "expected_volatility" not in {f["name"] for f in old.schemas.schema("score")["fields"]}
    decoded = SingleObjectCodec().decode("Score", old.encode("Score", SCORE))
    assert decoded["expected_volatility"] is None
    assert decoded["score_low"] is None and decoded["score_high"] is None
    assert decoded["score"] == 0.5 and decoded["trace"] == {"score_out": 9}
    assert VolRead.from_record(decoded) == VolRead()


def test_a_v3_score_carries_the_read_through_the_codec() -> None:
    codec = SingleObjectCodec()
    record = {**SCORE, **VolRead("high", 0.3, 0.9).to_record()}
    decoded = codec.decode("Score", codec.encode("Score", record))
    assert VolRead.from_record(decoded) == VolRead("high", 0.3, 0.9)


def test_v1_sentiment_and_v2_signal_records_decode_with_defaults(tmp_path: Path) -> None:
    old, new = codec_before(tmp_path / "old", "sentiment.v1", "signal.v2"), SingleObjectCodec()
    sentiment = new.decode("Sentiment", old.encode("Sentiment", {
        "ticker": "SPY", "window_start": 1, "window_end": 2, "mean": 0.3, "decayed": 0.3,
        "confidence": 0.5, "posts": 4, "authors": 3, "engagement": 9, "tumbling_mean": 0.2,
        "tumbling_posts": 2, "momentum": 0.0, "event_time": 2}))
    assert (sentiment["llm_vol_low"], sentiment["llm_vol_normal"], sentiment["llm_vol_high"]) \
        == (0, 0, 0)
    assert sentiment["llm_vol"] is None and sentiment["llm_interval_width"] is None
    signal = new.decode("Signal", old.encode("Signal", {
        "id": "SPY:bullish:1", "ticker": "SPY", "direction": "bullish", "strength": 0.4,
        "confidence": 0.6, "posts": 4, "authors": 3, "window_start": 1, "reason": "r",
        "event_time": 2}))
    assert signal["llm_vol"] is None and signal["measured_regime"] is None
    assert signal["vol_agreement"] == "unknown"


# --- the window ----------------------------------------------------------------------------

def item(post: str, read: str | None, width: float | None = None, rev: int = 0,
         score: float = 0.5) -> ScoreItem:
    return ScoreItem(post, score, 0.8, f"author-{post}", 1, at(15, 0), revision=rev,
                     vol_read=read, interval_width=width)


def test_the_window_counts_each_posts_read_once_and_a_revision_replaces_it() -> None:
    acc = merge(None, item("a", None))  # revision 0: no LLM answer yet
    acc = merge(acc, item("b", "normal", 0.4))
    assert (stats(acc).vol_counts, stats(acc).interval_width) == (
        {"low": 0, "normal": 1, "high": 0}, pytest.approx(0.4))
    acc = merge(acc, item("a", "high", 0.8, rev=1))  # Claude's late answer
    acc = merge(acc, item("a", "high", 0.8, rev=1))  # ... delivered twice
    acc = merge(acc, item("b", "normal", 0.4))  # a redelivered revision 0
    found = stats(acc)
    assert found.posts == 2
    assert found.vol_counts == {"low": 0, "normal": 1, "high": 1}
    assert found.interval_width == pytest.approx(0.6)
    acc = merge(acc, item("b", "high", 0.2, rev=1))  # b's read revised
    found = stats(acc)
    assert found.vol_counts == {"low": 0, "normal": 0, "high": 2} and found.llm_vol == "high"
    assert found.interval_width == pytest.approx(0.5)


def test_an_accumulator_written_before_the_reads_takes_a_revision_with_one() -> None:
    tag = hashlib.blake2b(b"a", digest_size=6).hexdigest()
    old = {"wsum": 0.4, "w": 0.8, "csum": 0.8, "n": 1, "eng": 1, "authors": ["author-a"],
           "seen": {tag: [0, 0.8, 0.5]}, "dnum": 0.4, "dden": 0.8, "last_us": at(15, 0)}
    assert stats(old).interval_width is None and stats(old).llm_vol is None
    found = stats(merge(old, item("a", "low", 0.6, rev=1)))
    assert found.posts == 1 and found.vol_counts == {"low": 1, "normal": 0, "high": 0}
    assert found.interval_width == pytest.approx(0.6) and found.llm_vol == "low"


@pytest.mark.parametrize(("counts", "read"), [
    ({}, None),
    ({"low": 0, "normal": 0, "high": 0}, None),
    ({"low": 3}, "low"),
    ({"low": 1, "normal": 2, "high": 1}, "normal"),
    ({"low": 2, "high": 2}, None),  # split: no read
    ({"normal": 1, "high": 3}, "high"),
])
def test_the_windows_read_is_the_strict_majority(counts: dict[str, int], read: str | None) -> None:
    assert majority(counts) == read


# --- agreement with the measured regime ------------------------------------------------------

@pytest.mark.parametrize(("read", "regime", "said"), [
    ("low", "calm", "agree"), ("normal", "normal", "agree"), ("high", "stressed", "agree"),
    ("high", "halted", "agree"), ("low", "normal", "disagree"), ("low", "stressed", "disagree"),
    ("normal", "calm", "disagree"), ("normal", "halted", "disagree"), ("high", "calm", "disagree"),
    ("high", "normal", "disagree"), (None, "calm", "unknown"), ("low", None, "unknown"),
    (None, None, "unknown"), ("low", "", "unknown"),
])
def test_agreement_follows_the_documented_mapping(read: str | None, regime: str | None,
                                                  said: str) -> None:
    assert agreement(read, regime) == said


def test_the_regime_at_a_moment_comes_from_the_volatility_record() -> None:
    t = at(15, 0)
    record = VolTrack().observe(t, 589.99, 590.01).to_record()
    assert regime_at(record, t + 1_000_000, market_open=True) == Regime.NORMAL.value
    assert regime_at(record, t + 31_000_000, market_open=True) == Regime.HALTED.value
    assert regime_at(record, t + 31_000_000, market_open=False) == Regime.NORMAL.value
    assert regime_at(None, t, market_open=True) is None
    with pytest.raises(ValueError):
        regime_at({"window": "garbage"}, t, market_open=True)
