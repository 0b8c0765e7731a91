"""Pure domain functions: windows, signals, risk, strikes, fills, positions, latency."""

from __future__ import annotations

from datetime import date

import pytest

from stocktracker.domain.aggregate import ScoreItem, WindowStats, merge, stats
from stocktracker.domain.fills import simulate_fill
from stocktracker.domain.latency import percentile, stage_latencies, summarize
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.positions import apply_fill, unrealized
from stocktracker.domain.risk import OrderIntent, RiskLimits, RiskState, check
from stocktracker.domain.signals import SignalRule, evaluate
from stocktracker.domain.strikes import ChainQuote, choose_contract
from stocktracker.domain.tickers import extract_tickers
from stocktracker.streams.samples import at

CAL = MarketCalendar()


def window(*scores: tuple[str, float, str]) -> dict[str, object]:
    acc: dict[str, object] | None = None
    for n, (pid, score, author) in enumerate(scores):
        acc = merge(acc, ScoreItem(pid, score, 0.8, author, 10, at(15, 0) + n * 1_000_000))
    assert acc is not None
    return acc


def test_window_counts_posts_authors_and_means() -> None:
    acc = window(("a", 0.8, "x"), ("b", 0.6, "y"), ("c", 0.7, "x"))
    s = stats(acc)
    assert s.posts == 3 and s.authors == 2 and s.engagement == 30
    assert s.mean == pytest.approx(0.7) and 0.6 < s.decayed <= 0.8


def test_a_redelivered_score_is_counted_once() -> None:
    acc = window(("a", 0.8, "x"), ("b", 0.6, "y"))
    again = merge(acc, ScoreItem("a", 0.8, 0.8, "x", 10, at(15, 0, 5)))
    assert stats(again).posts == 2


def test_decay_weighs_recent_posts_more() -> None:
    old = merge(None, ScoreItem("a", -1.0, 1.0, "x", 0, at(15, 0)))
    both = merge(old, ScoreItem("b", 1.0, 1.0, "y", 0, at(15, 4)))
    assert stats(both).mean == pytest.approx(0.0)
    assert stats(both).decayed > 0.5


def test_empty_window_is_neutral() -> None:
    assert stats(None).posts == 0 and stats({}).mean == 0.0


RULE = SignalRule(min_posts=3, min_authors=2, cooldown_us=600_000_000)


def test_signal_needs_threshold_confirmation_and_respects_cooldown() -> None:
    strong = stats(window(("a", 0.8, "x"), ("b", 0.7, "y"), ("c", 0.9, "z")))
    decision = evaluate("SPY", strong, 100, at(15, 0), None, RULE)
    assert decision is not None and decision.direction == "bullish"
    assert decision.id == "SPY:bullish:100" and "3 posts from 3 authors" in decision.reason
    assert evaluate("SPY", strong, 100, at(15, 5), at(15, 0), RULE) is None
    assert evaluate("SPY", strong, 100, at(15, 11), at(15, 0), RULE) is not None
    one_author = stats(window(("a", 0.8, "x"), ("b", 0.7, "x"), ("c", 0.9, "x")))
    assert evaluate("SPY", one_author, 100, at(15, 0), None, RULE) is None
    weak = stats(window(("a", 0.1, "x"), ("b", 0.1, "y"), ("c", 0.1, "z")))
    assert evaluate("SPY", weak, 100, at(15, 0), None, RULE) is None
    bear = stats(window(("a", -0.8, "x"), ("b", -0.7, "y"), ("c", -0.9, "z")))
    assert evaluate("SPY", bear, 100, at(15, 0), None, RULE).direction == "bearish"  # type: ignore[union-attr]


def test_calendar_knows_holidays_and_half_days() -> None:
    assert CAL.session_on(date(2026, 11, 26)) is None  # Thanksgiving
    half = CAL.session_on(date(2026, 11, 27))
    assert half is not None and half.minutes_to_close(half.open_us) == pytest.approx(210)
    assert CAL.is_open(at(15, 0)) and not CAL.is_open(at(21, 30))
    assert CAL.previous_session(date(2026, 11, 27)).day == date(2026, 11, 25)


def intent(**overrides: object) -> OrderIntent:
    base = dict(underlying="SPY", symbol="SPY261124C00590000", qty=1, limit_price=1.02,
                bid=1.0, ask=1.04, quote_us=at(15, 0), event_us=at(15, 0, 5))
    base.update(overrides)
    return OrderIntent(**base)  # type: ignore[arg-type]


def test_risk_allows_a_normal_order() -> None:
    session = CAL.session_at(at(15, 0))
    assert check(intent(), RiskState(), RiskLimits(), session).ok


@pytest.mark.parametrize(("change", "state", "reason"), [
    ({"event_us": at(21, 5), "quote_us": at(21, 5)}, RiskState(), "market closed"),
    ({"event_us": at(20, 45), "quote_us": at(20, 45)}, RiskState(), "cut-off"),
    ({"qty": 6}, RiskState(), "max per order"),
    ({}, RiskState(position_contracts=10), "position"),
    ({}, RiskState(total_contracts=20), "total"),
    ({}, RiskState(recent_orders_us=tuple(at(14, 59, s) for s in range(30, 36))), "circuit"),
    ({"quote_us": at(14, 58)}, RiskState(), "stale quote"),
    ({"limit_price": 1.5}, RiskState(), "band"),
    ({}, RiskState(paused=True), "paused"),
])
def test_risk_refuses_with_a_reason(change: dict[str, object], state: RiskState,
                                    reason: str) -> None:
    session = CAL.session_at(at(15, 0))
    verdict = check(intent(**change), state, RiskLimits(), session)
    assert not verdict.ok and any(reason in r for r in verdict.reasons), verdict.reasons


CHAIN = [ChainQuote(f"S{k}{s}", k, s, "2026-11-24", 1.0, 1.1, 0)
         for k in ("call", "put") for s in (588.0, 589.0, 590.0, 591.0, 592.0)]


def test_strike_selection_atm_and_offsets() -> None:
    assert choose_contract(CHAIN, 590.3, "bullish", "2026-11-24").symbol == "Scall590.0"  # type: ignore[union-attr]
    assert choose_contract(CHAIN, 590.3, "bullish", "2026-11-24", 1).strike == 591.0  # type: ignore[union-attr]
    assert choose_contract(CHAIN, 590.3, "bearish", "2026-11-24", 1).strike == 589.0  # type: ignore[union-attr]
    assert choose_contract(CHAIN, 590.3, "bullish", "2026-11-25") is None
    wide = [ChainQuote("W", "call", 590.0, "2026-11-24", 0.5, 2.0, 0)]
    assert choose_contract(wide, 590.0, "bullish", "2026-11-24") is None


def test_fills_cross_the_spread_and_respect_limits() -> None:
    market = simulate_fill("buy", 2, "market", None, 1.0, 1.1, slippage=0.02)
    assert market is not None and market.price == 1.12 and market.commission == 1.3
    assert simulate_fill("buy", 1, "limit", 1.05, 1.0, 1.1) is None
    limit = simulate_fill("buy", 1, "limit", 1.1, 1.0, 1.1)
    assert limit is not None and limit.price == 1.1
    assert simulate_fill("sell", 1, "limit", 1.05, 1.0, 1.1) is None


def test_positions_average_and_realise() -> None:
    pos = apply_fill(None, "buy", 1, 1.0, 0.65)
    pos = apply_fill(pos, "buy", 1, 2.0, 0.65)
    assert pos["qty"] == 2 and pos["avg_price"] == pytest.approx(1.5)
    assert unrealized(pos, 2.0) == pytest.approx(100.0)
    closed = apply_fill(pos, "sell", 2, 2.5, 1.3)
    assert closed["qty"] == 0 and closed["realized_pnl"] == pytest.approx(200 - 2.6)


def test_latency_from_a_trace() -> None:
    trace = {"ingest_in": 1000, "ingest_out": 1100, "score_in": 2000, "score_out": 3000,
             "aggregate_out": 4000, "signal_out": 5000, "execute_out": 11000}
    lat = stage_latencies(trace)
    assert lat["ingest"] == 0.1 and lat["score"] == pytest.approx(1.9)
    assert lat["execute"] == 6.0 and lat["post_to_order"] == 10.0
    assert percentile(list(range(1, 101)), 99) == 99
    assert summarize([3.0, 1.0, 2.0])["p50"] == 2.0


@pytest.mark.parametrize(("text", "expected"), [
    ("$spy calls and $QQQ puts", ["SPY", "QQQ"]),
    ("SPY ripping, ALL in, IT is going up", ["SPY"]),
    ("I think it is ALL good", []),
    ("price $5 and email me@spy.com", []),
    ("$IT earnings", ["IT"]),
])
def test_ticker_extraction_with_guards(text: str, expected: list[str]) -> None:
    assert extract_tickers(text, frozenset({"SPY", "QQQ", "ALL", "IT"})) == expected


def test_signal_needs_engagement_and_no_strong_momentum_against_it() -> None:
    strong = WindowStats(0.6, 0.6, 0.8, 5, 4, 30)
    rule = SignalRule(min_posts=3, min_authors=2, min_engagement=50, momentum_against=0.3)
    assert evaluate("SPY", strong, 100, at(15, 0), None, rule) is None  # engagement 30 < 50
    engaged = WindowStats(0.6, 0.6, 0.8, 5, 4, 80)
    fired = evaluate("SPY", engaged, 100, at(15, 0), None, rule, momentum=-0.2)
    assert fired is not None and fired.momentum == -0.2 and fired.engagement == 80
    assert "momentum -0.20" in fired.reason and "engagement 80" in fired.reason
    assert evaluate("SPY", engaged, 100, at(15, 0), None, rule, momentum=-0.4) is None
    bear = WindowStats(-0.6, -0.6, 0.8, 5, 4, 80)
    assert evaluate("SPY", bear, 100, at(15, 0), None, rule, momentum=0.4) is None
    assert evaluate("SPY", bear, 100, at(15, 0), None, rule, momentum=-0.9) is not None


def test_a_reconciliation_states_the_brokers_quantity() -> None:
    from stocktracker.domain.positions import apply_fill_record

    def target(qty: int, price: float = 0.5) -> dict[str, object]:
        return {"client_order_id": f"reconcile:SPY261124C00590000:{qty}", "side": "buy",
                "qty": qty, "price": price, "commission": 0.0}

    held = {"qty": 5, "avg_price": 0.53, "realized_pnl": -3.25, "high_mark": 0.8}
    # the book already agrees (a reconciliation that raced the table's recovery): unchanged
    assert apply_fill_record(held, target(5)) == held
    grown = apply_fill_record(held, target(7, 0.60))
    assert grown["qty"] == 7 and grown["avg_price"] == pytest.approx((5 * 0.53 + 2 * 0.60) / 7)
    shrunk = apply_fill_record(held, target(2))
    assert shrunk["qty"] == 2 and shrunk["realized_pnl"] == pytest.approx(-3.25)
    assert apply_fill_record(held, target(0))["qty"] == 0
    assert apply_fill_record(None, target(3, 1.1)) == {"qty": 3, "avg_price": 1.1, "realized_pnl": 0.0}
    assert apply_fill_record(None, target(0))["qty"] == 0
    # an ordinary fill is a trade
    trade = {**target(2), "client_order_id": "st-1"}
    assert apply_fill_record(held, trade)["qty"] == 7
