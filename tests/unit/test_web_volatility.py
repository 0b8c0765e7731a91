"""The dashboard's volatility panel: the LLM's read and the measured regime side by side,
through the view (events), the feed (snapshot) and the REST API."""

from __future__ import annotations

from typing import Any

from stocktracker.streams import samples as r
from stocktracker.web.events import SENTIMENT, SIGNAL, VOLATILITY
from stocktracker.web.view import DashboardView
from tests.unit.test_web_api import AUTH, make

HIGH = {"llm_vol_low": 0, "llm_vol_normal": 1, "llm_vol_high": 3, "llm_vol": "high",
        "llm_interval_width": 0.35}


def vol_events(view: DashboardView, topic: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    return [e.payload for e in view.apply(topic, record, 1) if e.name == VOLATILITY]


def test_the_llm_read_shows_beside_an_unknown_regime_until_one_is_measured() -> None:
    view = DashboardView()
    events = view.apply("sentiment", r.sentiment(**HIGH), 1)
    assert [e.name for e in events] == [SENTIMENT, VOLATILITY]
    assert events[0].payload["llm_vol"] == "high"
    row = events[1].payload
    assert row["ticker"] == "SPY" and row["llm_vol"] == "high"
    assert row["llm_vol_counts"] == {"low": 0, "normal": 1, "high": 3}
    assert row["llm_interval_width"] == 0.35
    assert (row["measured_regime"], row["agreement"]) == (None, "unknown")
    [row] = vol_events(view, "metrics", r.metric("vol_regime", 2.0, stage="market",
                                                 underlying="SPY", regime="stressed"))
    assert (row["measured_regime"], row["agreement"]) == ("stressed", "agree")
    [row] = vol_events(view, "metrics", r.metric("vol_regime", 0.0, stage="market",
                                                 underlying="SPY", regime="calm"))
    assert (row["measured_regime"], row["agreement"], row["llm_vol"]) == ("calm", "disagree", "high")
    assert view.vol.rows() == [row]


def test_other_metrics_and_a_repeated_read_cause_no_event() -> None:
    view = DashboardView()
    assert vol_events(view, "sentiment", r.sentiment(**HIGH))
    assert vol_events(view, "sentiment", r.sentiment(at=r.T0 + 1_000_000, **HIGH)) == []
    assert vol_events(view, "metrics", r.metric("llm_calls", 3.0, stage="score")) == []
    [row] = vol_events(view, "sentiment", r.sentiment(**{**HIGH, "llm_vol_high": 4}))
    assert row["llm_vol_counts"]["high"] == 4


def test_an_older_regime_change_read_late_does_not_replace_a_newer_one() -> None:
    view = DashboardView()
    newer = {**r.metric("vol_regime", 2.0, underlying="SPY", regime="stressed")}
    older = {**newer, "labels": {"underlying": "SPY", "regime": "calm"},
             "event_time": newer["event_time"] - 1_000_000}
    vol_events(view, "metrics", newer)
    assert vol_events(view, "metrics", older) == []
    assert view.vol.row("SPY")["measured_regime"] == "stressed"


def test_a_signal_carries_its_agreement_and_gives_the_regime_until_a_metric_comes() -> None:
    view = DashboardView()
    signal = r.signal(llm_vol="normal", measured_regime="normal", vol_agreement="agree")
    events = view.apply("signals", signal, 1)
    assert [e.name for e in events] == [SIGNAL, VOLATILITY]
    assert {k: events[0].payload[k] for k in ("llm_vol", "measured_regime", "vol_agreement")} \
        == {"llm_vol": "normal", "measured_regime": "normal", "vol_agreement": "agree"}
    assert events[1].payload["measured_regime"] == "normal"
    vol_events(view, "metrics", r.metric("vol_regime", 3.0, underlying="SPY", regime="halted"))
    assert vol_events(view, "signals", r.signal("SPY:bullish:2", measured_regime="calm")) == []
    assert view.vol.row("SPY")["measured_regime"] == "halted"
    old = view.apply("signals", r.signal("SPY:bullish:3"), 1)  # no read, no regime
    assert [e.name for e in old] == [SIGNAL] and old[0].payload["vol_agreement"] == "unknown"


def test_the_feed_snapshot_and_the_api_carry_the_panel() -> None:
    app, feed, _ = make()
    feed.ingest("sentiment", r.sentiment(**HIGH))
    feed.ingest("metrics", r.metric("vol_regime", 1.0, underlying="SPY", regime="normal"))
    [row] = feed.snapshot()[VOLATILITY]["items"]
    assert (row["llm_vol"], row["measured_regime"], row["agreement"]) == ("high", "normal",
                                                                          "disagree")
    answer = app.test_client().get("/api/volatility", headers=AUTH)
    assert answer.status_code == 200 and answer.json == [row]
    assert feed.drain()[VOLATILITY].items[-1] == row
