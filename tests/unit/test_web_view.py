"""The dashboard's view of the pipeline, built from records, without Kafka or a browser."""

from __future__ import annotations

import copy

from stocktracker.streams import samples as r
from stocktracker.streams.core.trace import now_us
from stocktracker.web import report
from stocktracker.web.events import POSITION, SENTIMENT, SIGNAL, TRADE, Event, EventBuffer
from stocktracker.web.stats import LatencyWindow, RateMeter
from stocktracker.web.view import DashboardView, origin_us


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


def test_a_position_shows_its_flags_on_new_marks_until_a_record_clears_them() -> None:
    view = DashboardView()
    view.apply("positions", r.position(), now_us())
    view.apply("positions", r.position(symbol="SPY261124P00580000", qty=1, stranded=True,
                                       stale=True), now_us())
    [marked] = view.apply("quotes", r.quote(symbol="SPY261124P00580000"), now_us())
    assert marked.payload["stranded"] and marked.payload["stale"]  # a new mark keeps them
    rows = {p["symbol"]: p for p in report.positions(view)["positions"]}
    assert (rows["SPY261124C00590000"]["stale"], rows["SPY261124C00590000"]["stranded"]) \
        == (False, False)
    assert rows["SPY261124P00580000"]["stranded"] and rows["SPY261124P00580000"]["stale"]
    [cleared] = view.apply("positions", r.position(symbol="SPY261124P00580000", qty=1,
                                                   stranded=True), now_us())
    assert cleared.payload["stranded"] and not cleared.payload["stale"]


ALICE, BOB = "alice@127.0.0.1 via web", "bob@10.0.0.2 via web"


def test_before_any_owner_answers_the_state_is_unknown_and_a_command_only_pending() -> None:
    view = DashboardView()
    view.apply("control", r.control("kill", flatten="true"), now_us())
    t = report.trading(view)
    assert not t["confirmed"] and t["owner"] is None
    assert t["paused"] is None and t["killed"] is None and t["entries_allowed"] is None
    assert t["limits"] is None
    assert [(c["command"], c["status"], c["accepted"]) for c in t["pending"]] == [("kill", "pending", None)]
    assert t["last_command"]["actor"] == ALICE and t["last_command"]["params"] == {"flatten": "true"}


def test_a_kill_sent_but_never_applied_leaves_the_owner_s_state_shown() -> None:
    view = DashboardView()
    view.apply("switches", r.switches("restore", by="owner", at=r.T0 - 60_000_000), now_us())
    view.apply("control", r.control("kill"), now_us())
    t = report.trading(view)
    assert t["confirmed"] and t["killed"] is False and t["entries_allowed"] is True
    assert t["owner"]["actor"] == "owner worker-1" and t["owner"]["applied"] == "restore"
    assert [c["command"] for c in t["pending"]] == ["kill"]
    assert t["last_command"]["status"] == "pending" and t["last_command"]["owner"] is None


def test_the_owner_s_answer_confirms_the_command_it_names_and_no_other() -> None:
    view = DashboardView()
    view.apply("switches", r.switches("restore", by="owner", at=r.T0 - 60_000_000), now_us())
    view.apply("control", r.control("kill", actor=ALICE, at=r.T0), now_us())
    view.apply("control", r.control("kill", actor=BOB, at=r.T0), now_us())
    view.apply("switches", r.switches("kill", by=BOB, at=r.T0, killed=True), now_us())
    t = report.trading(view)
    assert t["killed"] is True and t["entries_allowed"] is False
    assert t["owner"] == {**t["owner"], "actor": "owner worker-1", "applied": "kill", "by": BOB,
                          "accepted": True, "error": None, "t": r.T0 // 1000}
    status = {c["actor"]: (c["status"], c["owner"]) for c in t["recent_commands"] if c["command"] == "kill"}
    assert status == {BOB: ("applied", "owner worker-1"), ALICE: ("pending", None)}
    assert [c["actor"] for c in t["pending"]] == [ALICE]


def test_a_refused_command_shows_refused_with_the_owner_s_reason_and_keeps_the_state() -> None:
    view = DashboardView()
    view.apply("control", r.control("set_limits", at=r.T0, max_daily_loss="500"), now_us())
    view.apply("switches", r.switches("set_limits", at=r.T0, max_daily_loss=500.0), now_us())
    view.apply("control", r.control("set_limits", at=r.T0 + 1, bogus="1"), now_us())
    view.apply("switches", r.switches("set_limits", at=r.T0 + 1, max_daily_loss=500.0,
                                      error="unknown limit 'bogus'"), now_us())
    t = report.trading(view)
    assert t["limits"] == {"max_daily_loss": 500.0} and t["pending"] == []
    refused, applied = t["recent_commands"]
    assert refused["params"] == {"bogus": "1"} and refused["status"] == "refused"
    assert refused["accepted"] is False and refused["error"] == "unknown limit 'bogus'"
    assert applied["status"] == "applied" and applied["accepted"] is True
    assert t["owner"]["accepted"] is False and t["owner"]["error"] == "unknown limit 'bogus'"


def test_a_restore_by_a_new_owner_shows_that_owner_s_state_and_a_row_of_its_own() -> None:
    view = DashboardView()
    view.apply("control", r.control("kill", at=r.T0), now_us())
    view.apply("switches", r.switches("kill", at=r.T0, killed=True), now_us())
    view.apply("switches", r.switches("restore", by="owner", at=r.T0 + 5_000_000, paused=True,
                                      owner="owner worker-2", max_daily_loss=250.0), now_us())
    t = report.trading(view)
    assert (t["paused"], t["killed"], t["limits"]) == (True, False, {"max_daily_loss": 250.0})
    assert t["owner"]["actor"] == "owner worker-2" and t["owner"]["applied"] == "restore"
    restore = t["last_command"]
    assert restore["command"] == "restore" and restore["actor"] == "owner worker-2"
    assert restore["status"] == "applied" and restore["params"] == {
        "paused": "true", "killed": "false", "limit.max_daily_loss": "250.0"}
    assert [c["command"] for c in t["recent_commands"]] == ["restore", "kill"]


def test_an_answer_read_before_its_command_settles_it_when_the_command_comes() -> None:
    view = DashboardView()  # control and switches are read side by side, in no set order
    view.apply("switches", r.switches("pause", at=r.T0, paused=True), now_us())
    view.apply("switches", r.switches("pause", at=r.T0, paused=True), now_us())
    assert report.trading(view)["paused"] is True and report.trading(view)["recent_commands"] == []
    for _ in range(3):  # the same command twice at the same pipeline time, then a third
        view.apply("control", r.control("pause", at=r.T0), now_us())
    t = report.trading(view)
    assert [c["status"] for c in t["recent_commands"]] == ["pending", "applied", "applied"]


def test_an_answer_that_does_not_say_whose_settles_the_latest_pending_of_its_command() -> None:
    view = DashboardView()
    view.apply("control", r.control("pause", actor=ALICE, at=r.T0), now_us())
    view.apply("control", r.control("pause", actor=BOB, at=r.T0 + 1), now_us())
    answer = r.switches("pause", at=r.T0 + 1, paused=True)
    del answer["params"]["by"]
    view.apply("switches", answer, now_us())
    t = report.trading(view)
    assert {c["actor"]: c["status"] for c in t["recent_commands"]} == {BOB: "applied", ALICE: "pending"}


def test_an_invalid_limit_from_the_owner_is_a_dashboard_failure_and_changes_nothing() -> None:
    from stocktracker.streams.core.settings import WebSettings
    from stocktracker.web.hub import Feed

    feed = Feed(WebSettings())
    feed.ingest("switches", r.switches("restore", by="owner", at=r.T0, max_daily_loss=500.0))
    feed.ingest("control", r.control("kill", at=r.T0 + 1))
    feed.ingest("switches", r.switches("kill", at=r.T0 + 1, killed=True, max_daily_loss=float("nan")))
    t = feed.status()["trading"]
    assert t["killed"] is False and t["limits"] == {"max_daily_loss": 500.0}
    assert t["owner"]["applied"] == "restore" and [c["command"] for c in t["pending"]] == ["kill"]
    errors = feed.metrics()["errors"]
    assert errors["deadletter"] == {"dashboard": 1}
    assert errors["recent"][0]["topic"] == "switches" and "finite number" in errors["recent"][0]["reason"]
    state, _ = feed.control_state()
    assert state.killed is False and state.limits == {"max_daily_loss": 500.0}


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
    from stocktracker.streams.core.settings import WebSettings
    from stocktracker.web.hub import Feed

    feed = Feed(WebSettings())
    broken = r.signal()
    del broken["reason"]
    feed.ingest_many([("signals", broken), ("signals", r.signal(sid="SPY:bullish:2"))])
    assert [s["id"] for s in feed.signals(10)] == ["SPY:bullish:2"]
    errors = feed.metrics()["errors"]
    assert errors["deadletter"] == {"dashboard": 1} and "KeyError" in errors["recent"][0]["reason"]
