"""The dashboard's view of the pipeline, built from records, without Kafka or a browser."""

from __future__ import annotations

import copy

from streams.trace import now_us
from tests.unit import web_records as r
from web import report
from web.events import POSITION, SENTIMENT, SIGNAL, TRADE, Event, EventBuffer
from web.stats import LatencyWindow, RateMeter
from web.view import DashboardView, origin_us


def test_a_signal_gets_its_order_outcome_and_reason() -> None:
    view = DashboardView()
    [first] = view.apply("signals", r.signal(), now_us())
    assert first.name == SIGNAL and first.key == "SPY:bullish:1"
    assert first.payload["reason"].startswith("mean 0.45") and first.payload["outcome"] is None
    [update] = view.apply("orders", r.order(status="rejected", reason="paused; market_open"), now_us())
    assert update.key == "SPY:bullish:1"  # the same row, upserted
    assert update.payload["outcome"]["status"] == "rejected"
    assert update.payload["outcome"]["reason"] == "paused; market_open"
    assert view.orders["st-1"]["reason"] == "paused; market_open"


def test_an_order_read_before_its_signal_still_gives_the_outcome() -> None:
    view = DashboardView()  # signals and orders are separate topics: no order between them
    assert view.apply("orders", r.order(status="filled", reason=None), now_us()) == []
    [signal] = view.apply("signals", r.signal(), now_us())
    assert signal.payload["outcome"]["status"] == "filled"


def test_an_exit_order_without_a_signal_changes_no_signal() -> None:
    view = DashboardView()
    view.apply("signals", r.signal(), now_us())
    assert view.apply("orders", r.order(coid="ex-1", sid="", intent="close", status="new"), now_us()) == []
    assert view.signals["SPY:bullish:1"]["outcome"] is None


def test_positions_are_marked_at_the_latest_quote_mid() -> None:
    view = DashboardView()
    view.apply("orders", r.order(status="filled", reason=None), now_us())
    [trade] = view.apply("fills", r.fill(), now_us())
    assert trade.name == TRADE and trade.key is None and trade.payload["intent"] == "open"
    [pos] = view.apply("positions", r.position(qty=2, avg=1.25, realized=-1.3, mark=1.25), now_us())
    assert pos.name == POSITION and pos.payload["unrealized_pnl"] == 0.0
    [marked] = view.apply("quotes", r.quote(bid=1.5, ask=1.6), now_us())
    # 2 contracts x 100 x (1.55 - 1.25) = 60, less the commission already realised
    assert marked.payload["mark"] == 1.55 and marked.payload["unrealized_pnl"] == 60.0
    assert marked.payload["pnl"] == 58.7
    assert view.apply("quotes", r.quote(bid=1.5, ask=1.6), now_us()) == []  # unchanged mark
    assert view.apply("quotes", r.quote(symbol="SPY261124P00580000"), now_us()) == []  # not held
    totals = report.positions(view)
    assert totals["open"] == 1 and totals["pnl"] == {"realized": -1.3, "unrealized": 60.0, "total": 58.7}


def test_control_state_is_the_replay_of_the_control_topic() -> None:
    view = DashboardView()
    view.apply("control", r.control("pause", reason="news"), now_us())
    assert report.trading(view)["paused"] and not report.trading(view)["entries_allowed"]
    view.apply("control", r.control("set_limits", max_daily_loss="500"), now_us())
    view.apply("control", r.control("set_limits", bogus="1"), now_us())  # the worker dead-letters it
    view.apply("control", r.control("kill"), now_us())
    t = report.trading(view)
    assert t["killed"] and t["paused"] and t["limits"] == {"max_daily_loss": 500.0}
    refused = t["recent_commands"][1]
    assert refused["command"] == "set_limits" and not refused["accepted"] and "bogus" in refused["error"]
    assert t["last_command"]["actor"] == "alice@127.0.0.1 via web"
    view.apply("control", r.control("resume"), now_us())
    assert report.trading(view)["entries_allowed"]


def test_latency_per_stage_from_traces_and_orders_counted_once() -> None:
    view = DashboardView()
    view.apply("sentiment", r.sentiment(), now_us())
    view.apply("orders", r.order(status="new"), now_us())
    view.apply("orders", r.order(status="filled"), now_us())  # same order, same trace
    rolling = view.latency.rolling()
    assert rolling["aggregate"]["p50"] == 2.0 and rolling["aggregate"]["n"] == 1
    assert rolling["execute"]["n"] == 1 and rolling["post_to_order"]["p99"] == 10.0


def test_the_pipeline_clock_follows_event_time_not_metrics() -> None:
    view = DashboardView()
    view.apply("quotes", r.quote(at=r.T0 + 5_000_000), now_us())
    view.apply("signals", r.signal(at=r.T0), now_us())
    view.apply("metrics", r.metric("llm_calls", 3, stage="score", model="groq"), now_us())
    assert view.clock_us == r.T0 + 5_000_000


def test_llm_usage_and_cost_come_from_the_score_stage_metrics() -> None:
    view = DashboardView()
    for model, calls, cost in (("groq", 10, 0.002), ("claude", 4, 0.01)):
        view.apply("metrics", r.metric("llm_calls", calls, stage="score", model=model), now_us())
        view.apply("metrics", r.metric("llm_cost_usd", cost, stage="score", model=model), now_us())
    view.apply("metrics", r.metric("llm_calls", 12, stage="score", model="groq"), now_us())  # newer
    usage = report.llm_usage(view)
    assert usage["models"]["groq"] == {"calls": 12.0, "cost_usd": 0.002}
    assert usage["calls"] == 16.0 and usage["cost_usd"] == 0.012


def test_components_tell_up_down_and_not_seen() -> None:
    view = DashboardView()
    now = now_us()
    view.apply("metrics", r.metric("ingest_kept", 5, stage="ingest"), now - 60_000_000)
    view.apply("metrics", r.metric("ensemble_posts", 5, stage="score"), now - 1_000_000)
    health = copy.deepcopy(report.UNKNOWN_HEALTH)
    health["broker"].update(connected=True, error=None, brokers=1)
    health["worker"].update(members=0, state="EMPTY", lag=7)
    states = {c["name"]: c["state"] for c in report.components(view, health, now)}
    assert states == {"kafka": "up", "worker": "down", "dashboard feed": "down", "ingest": "stale",
                      "sentiment models": "up", "posts": "not seen"}


def test_errors_are_counted_by_stage_with_their_reasons() -> None:
    view = DashboardView()
    view.apply("deadletter", r.dead("control", "unknown limit 'bogus'"), now_us())
    view.apply("deadletter", r.dead("score", "x" * 1000), now_us())
    m = report.metrics(view, now_us(), 200.0, {})
    assert m["errors"]["deadletter"] == {"control": 1, "score": 1}
    assert len(m["errors"]["recent"][1]["reason"]) == 300


def test_origin_is_the_latest_out_stamp() -> None:
    assert origin_us({"ingest_in": 1, "ingest_out": 5, "score_in": 9, "score_out": 7}) == 7
    assert origin_us({}) == 0


def test_the_buffer_keeps_the_latest_per_key_and_caps_unkeyed_items() -> None:
    buffer = EventBuffer(max_batch=10)
    for n in range(50):
        buffer.add(Event(SENTIMENT, "SPY", {"n": n}, n))
        buffer.add(Event(TRADE, None, {"n": n}, n))
    buffer.add(Event(SENTIMENT, "QQQ", {"n": 99}))
    batches = buffer.drain()
    assert batches[SENTIMENT].items == [{"n": 49}, {"n": 99}] and batches[SENTIMENT].dropped == 0
    assert [i["n"] for i in batches[TRADE].items] == list(range(40, 50))
    assert batches[TRADE].dropped == 40 and batches[TRADE].origins == list(range(40, 50))
    assert buffer.drain() == {} and buffer.coalesced == 49


def test_a_flood_between_emits_stays_bounded_in_memory() -> None:
    buffer = EventBuffer(max_batch=100)
    for n in range(100_000):
        buffer.add(Event(TRADE, None, {"n": n}))
    assert buffer.pending() <= 200
    batch = buffer.drain()[TRADE]
    assert len(batch.items) == 100 and batch.dropped == 99_900 and batch.items[-1] == {"n": 99_999}


def test_latency_points_cover_only_the_samples_since_the_last_point() -> None:
    window = LatencyWindow(size=100)
    for ms in range(1, 201):
        window.add("score", float(ms))
    assert window.point()["score"] == {"n": 200, "p50": 100.0, "p99": 198.0}
    assert window.point() == {}
    assert window.rolling()["score"]["n"] == 200 and window.rolling()["score"]["p50"] == 150.0


def test_rates_are_per_second_over_the_span() -> None:
    meter = RateMeter(span_s=10)
    start = 1_000_000_000_000
    for n in range(100):
        meter.add("posts", start + n * 100_000)  # 10/s for 10 s
    assert meter.rate("posts", start + 9_999_999) == 10.0
    assert meter.rate("posts", start + 60_000_000) == 0.0


def test_a_record_the_view_cannot_fold_is_counted_and_the_rest_go_on() -> None:
    from streams.settings import WebSettings
    from web.hub import Feed

    feed = Feed(WebSettings())
    broken = r.signal()
    del broken["reason"]
    feed.ingest_many([("signals", broken), ("signals", r.signal(sid="SPY:bullish:2"))])
    assert [s["id"] for s in feed.signals(10)] == ["SPY:bullish:2"]
    errors = feed.metrics()["errors"]
    assert errors["deadletter"] == {"dashboard": 1} and "KeyError" in errors["recent"][0]["reason"]
