"""Prometheus metrics: a stage's handling, and the dashboard's /metrics, read back with
prometheus_client's own parser (names, labels, values)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from stocktracker.streams import samples as r
from stocktracker.streams.core.metrics import StageMetrics, exposition
from tests.unit.test_web_api import AUTH, make
from tests.web_auth import web_settings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_stage_handling_is_a_histogram_and_a_counter_by_outcome() -> None:
    stages = StageMetrics()
    stages.handled("score", 0.004, ok=True)
    stages.handled("score", 0.3, ok=True)
    stages.handled("score", 0.001, ok=False)
    body, content_type = exposition(stages.registry)
    assert content_type.startswith("text/plain; version=")  # the text exposition format
    got = samples(body.decode())
    assert got[("stocktracker_stage_records_total", (("outcome", "ok"), ("stage", "score")))] == 2
    assert got[("stocktracker_stage_records_total", (("outcome", "deadletter"), ("stage", "score")))] == 1
    assert got[("stocktracker_stage_handle_seconds_count", (("stage", "score"),))] == 3
    assert got[("stocktracker_stage_handle_seconds_bucket", (("le", "0.2"), ("stage", "score")))] == 2
    kinds = {name: f.type for name, f in families(body.decode()).items()}
    assert kinds["stocktracker_stage_handle_seconds"] == "histogram"
    assert kinds["stocktracker_stage_records"] == "counter"


def test_the_dashboard_serves_the_account_as_one_reader_sees_it() -> None:
    app, feed, _ = make()
    client = app.test_client()
    assert client.get("/metrics").status_code == 401  # read as the API is: the token
    feed.ingest("signals", r.signal())
    for status in ("new", "filled", "filled"):  # the second "filled" is a record read twice
        feed.ingest("orders", r.order(coid="st-1", status=status, reason=None))
    feed.ingest("orders", r.order(coid="st-2", status="rejected"))
    feed.ingest("positions", r.position(qty=2, avg=1.25, realized=-1.3, mark=1.40))
    feed.ingest("alerts", r.alert("kill_switch", "account", severity="critical"))
    feed.ingest("alerts", r.alert("source_down", "x"))
    feed.ingest("alerts", r.alert("source_down", "x", state="acknowledged", actor="bob"))
    feed.ingest("alerts", r.alert("no_posts", "posts"))
    feed.ingest("alerts", r.alert("no_posts", "posts", state="resolved"))
    scrape = client.get("/metrics", headers=AUTH)
    assert scrape.status_code == 200 and scrape.content_type.startswith("text/plain")
    got = samples(scrape.get_data(as_text=True))
    assert got[("stocktracker_order_updates_total", (("status", "new"),))] == 1
    assert got[("stocktracker_order_updates_total", (("status", "filled"),))] == 1
    assert got[("stocktracker_order_updates_total", (("status", "rejected"),))] == 1
    assert got[("stocktracker_records_seen_total", (("topic", "orders"),))] == 4
    symbol = (("symbol", "SPY261124C00590000"), ("underlying", "SPY"))
    assert got[("stocktracker_position_contracts", symbol)] == 2
    assert got[("stocktracker_open_positions", ())] == 1
    assert got[("stocktracker_pnl_dollars", (("kind", "realized"),))] == -1.3
    assert got[("stocktracker_pnl_dollars", (("kind", "unrealized"),))] == 30.0  # (1.40-1.25)*2*100
    # the signal's trace gave one latency sample per stage it names
    assert got[("stocktracker_latency_seconds_count", (("stage", "signal"),))] == 1
    assert got[("stocktracker_pipeline_clock_seconds", ())] == r.T0 / 1e6
    firing = {labels: v for (name, labels), v in got.items() if name == "stocktracker_alerts_firing"}
    assert firing[(("acknowledged", "false"), ("severity", "critical"))] == 1
    assert firing[(("acknowledged", "true"), ("severity", "warning"))] == 1
    assert sum(firing.values()) == 2  # the resolved one is not firing


def test_the_dashboard_metrics_may_be_opened_with_the_views() -> None:
    app, _, _ = make(web_settings(read_only_open=True))
    assert app.test_client().get("/metrics").status_code == 200
