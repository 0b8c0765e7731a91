"""Pre-trade risk: each check refuses what it should and nothing else.

Every case is a pair on the same base order (2 SPY 0DTE calls at 1.02 on a 1.00 x 1.04
quote, 10:00 ET on a full session): one change that fails only that check, and one that
sits just inside its limit and passes every check.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from stocktracker.domain.market_hours import MarketCalendar, Session
from stocktracker.domain.risk import (
    CHECKS,
    MINUTE_US,
    OrderIntent,
    RiskLimits,
    RiskMemory,
    RiskState,
    check,
    ny_clock,
    ny_us,
    parse_hhmm,
    prune_recent,
)

CAL = MarketCalendar()
DAY = date(2026, 11, 24)  # a full session, 9:30-16:00 ET (14:30-21:00 UTC)
HALF_DAY = date(2026, 11, 27)  # the day after Thanksgiving: closes 13:00 ET (18:00 UTC)
LIMITS = RiskLimits()


def utc(hour: int, minute: int, second: int = 0, day: date = DAY) -> int:
    """µs of a UTC wall-clock time on ``day``."""
    return int(datetime(day.year, day.month, day.day, hour, minute, second,
                        tzinfo=UTC).timestamp() * 1_000_000)


NOW = utc(15, 0, 5)  # 10:00:05 ET
BASE = OrderIntent(
    underlying="SPY", symbol="SPY261124C00591000", qty=2, limit_price=1.02, bid=1.00,
    ask=1.04, quote_us=NOW - 2_000_000, event_us=NOW, post_us=NOW - 12_000_000,
    received_us=NOW - 9_000_000, expiry="2026-11-24", fees=1.30)
STATE = RiskState(buying_power=25_000.0)


def at_time(event_us: int) -> dict[str, object]:
    """The order moved to ``event_us`` with its quote and post moved along."""
    return {"event_us": event_us, "quote_us": event_us - 2_000_000,
            "post_us": event_us - 12_000_000, "received_us": event_us - 9_000_000}


def session_of(day: date) -> Session:
    session = CAL.session_on(day)
    assert session is not None
    return session


CASES: dict[str, tuple[dict[str, object], dict[str, object], dict[str, object],
                       dict[str, object], date]] = {
    # name: (failing intent change, failing state change, passing intent, passing state, day)
    "paused": ({}, {"paused": True}, {}, {"paused": False}, DAY),
    "killed": ({}, {"killed": True}, {}, {"killed": False}, DAY),
    "market_open": (at_time(utc(14, 29, 59)), {}, at_time(utc(14, 30)), {}, DAY),
    "entry_cutoff_time": (at_time(utc(20, 0)), {}, at_time(utc(19, 59, 59)), {}, DAY),
    "entry_cutoff_before_close": (at_time(utc(17, 30, 1, HALF_DAY)), {},
                                  at_time(utc(17, 30, 0, HALF_DAY)), {}, HALF_DAY),
    "positive_qty": ({"qty": 0}, {}, {"qty": 1}, {}, DAY),
    "max_per_order": ({"qty": 6}, {}, {"qty": 5}, {}, DAY),
    "max_position_contracts": ({}, {"position_contracts": 9, "total_contracts": 9}, {},
                               {"position_contracts": 8, "total_contracts": 8}, DAY),
    "max_total_contracts": ({}, {"total_contracts": 19}, {}, {"total_contracts": 18}, DAY),
    "max_position_premium": ({}, {"position_premium": 1_797.0, "total_premium": 1_797.0}, {},
                             {"position_premium": 1_796.0, "total_premium": 1_796.0}, DAY),
    "max_total_premium": ({}, {"total_premium": 4_797.0}, {}, {"total_premium": 4_796.0}, DAY),
    "daily_loss": ({}, {"day_pnl": -1_000.0}, {}, {"day_pnl": -999.99}, DAY),
    # 6 orders in the last minute; 5 plus one exactly a minute old (out of the window)
    "circuit_breaker": ({}, {"recent_orders_us": tuple(NOW - s * 1_000_000 for s in range(1, 60, 10))},
                        {}, {"recent_orders_us": (NOW - MINUTE_US,
                                                  *(NOW - s * 1_000_000 for s in range(1, 50, 10)))},
                        DAY),
    "stale_quote": ({"quote_us": NOW - 30_000_001}, {}, {"quote_us": NOW - 30_000_000}, {}, DAY),
    "stale_post": ({"post_us": NOW - 9_000_000 - 30_000_001}, {},
                   {"post_us": NOW - 9_000_000 - 30_000_000}, {}, DAY),
    "sane_quote": ({"bid": 1.05}, {}, {"bid": 1.04, "limit_price": 1.04}, {}, DAY),
    "limit_band": ({"limit_price": 1.14}, {}, {"limit_price": 1.13}, {}, DAY),
    "buying_power": ({}, {"buying_power": 205.29}, {}, {"buying_power": 205.30}, DAY),
}


def test_every_check_has_a_case() -> None:
    assert sorted(CASES) == sorted(name for name, _ in CHECKS)


def test_the_base_order_passes() -> None:
    assert check(BASE, STATE, LIMITS, session_of(DAY)).ok


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_check_refuses_only_what_it_should(name: str) -> None:
    fail_intent, fail_state, _, _, day = CASES[name]
    verdict = check(replace(BASE, **fail_intent), replace(STATE, **fail_state), LIMITS,  # type: ignore[arg-type]
                    session_of(day))
    assert verdict.failed == (name,), verdict.reasons
    assert len(verdict.reasons) == 1 and verdict.reasons[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_just_inside_each_limit_passes(name: str) -> None:
    _, _, pass_intent, pass_state, day = CASES[name]
    verdict = check(replace(BASE, **pass_intent), replace(STATE, **pass_state), LIMITS,  # type: ignore[arg-type]
                    session_of(day))
    assert verdict.ok, verdict.reasons


def test_reasons_carry_the_numbers() -> None:
    session = session_of(DAY)
    loss = check(BASE, replace(STATE, day_pnl=-1_250.0), LIMITS, session)
    assert loss.reasons == ("daily loss limit: day P&L $-1,250.00 <= -$1,000.00, no more entries today",)
    late = check(replace(BASE, **at_time(utc(20, 0))), STATE, LIMITS, session)  # type: ignore[arg-type]
    assert late.reasons == ("no new 0DTE entries after the 15:00 ET cut-off",)
    poor = check(BASE, replace(STATE, buying_power=150.0), LIMITS, session)
    assert poor.reasons == ("premium + fees $205.30 > buying power $150.00",)


def test_a_bad_order_gets_every_reason_at_once() -> None:
    verdict = check(replace(BASE, qty=6, quote_us=NOW - 60_000_000),
                    replace(STATE, paused=True, day_pnl=-2_000.0), LIMITS, session_of(DAY))
    assert verdict.failed == ("paused", "max_per_order", "daily_loss", "stale_quote")
    assert len(verdict.reasons) == 4


def test_closed_days_and_after_the_close_are_only_closed() -> None:
    thanksgiving = check(replace(BASE, **at_time(utc(15, 0, 0, date(2026, 11, 26)))),  # type: ignore[arg-type]
                         STATE, LIMITS, CAL.session_on(date(2026, 11, 26)))
    assert thanksgiving.failed == ("market_open",)
    after_close = check(replace(BASE, **at_time(utc(21, 0))), STATE, LIMITS, session_of(DAY))  # type: ignore[arg-type]
    assert after_close.failed == ("market_open",)
    half_day_afternoon = check(replace(BASE, **at_time(utc(18, 30, 0, HALF_DAY))), STATE,  # type: ignore[arg-type]
                               LIMITS, session_of(HALF_DAY))
    assert half_day_afternoon.failed == ("market_open",)


def test_the_time_cut_off_is_for_0dte_only_and_can_be_turned_off() -> None:
    late = replace(BASE, **at_time(utc(20, 15)))  # type: ignore[arg-type]
    session = session_of(DAY)
    assert check(late, STATE, LIMITS, session).failed == ("entry_cutoff_time",)
    assert check(replace(late, expiry="2026-11-25"), STATE, LIMITS, session).ok
    assert check(replace(late, expiry=None), STATE, LIMITS, session).failed == ("entry_cutoff_time",)
    assert check(late, STATE, replace(LIMITS, entry_cutoff_et=None), session).ok
    earlier = replace(LIMITS, entry_cutoff_et=time(14, 30))
    assert check(replace(BASE, **at_time(utc(19, 30))), STATE, earlier, session).failed == (  # type: ignore[arg-type]
        "entry_cutoff_time",)


def test_a_market_order_is_priced_at_the_ask_and_skips_the_band() -> None:
    market = replace(BASE, limit_price=None)
    assert market.premium == pytest.approx(208.0)
    assert check(market, STATE, LIMITS, session_of(DAY)).ok
    assert check(market, replace(STATE, buying_power=209.0), LIMITS, session_of(DAY)).failed == (
        "buying_power",)


def test_unknown_post_times_and_buying_power_are_not_checked() -> None:
    bare = OrderIntent("SPY", "SPY261124C00591000", 1, 1.02, 1.00, 1.04, NOW, NOW)
    assert check(bare, RiskState(), LIMITS, session_of(DAY)).ok


def test_clock_helpers() -> None:
    assert ny_clock(utc(20, 0)) == time(15, 0)
    assert ny_us(DAY, time(15, 10)) == utc(20, 10)
    assert ny_us(date(2026, 7, 1), time(15, 10)) == utc(19, 10, 0, date(2026, 7, 1))  # EDT
    assert parse_hhmm("09:45") == time(9, 45)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hhmm("3pm")


def test_prune_recent_keeps_the_last_minute() -> None:
    assert prune_recent((NOW - MINUTE_US, NOW - 59_000_000, NOW, NOW + 1), NOW) == [
        NOW - 59_000_000, NOW]


# ---- the risk memory (the risk_state table) ----------------------------------------------------
def test_risk_memory_round_trips_and_reads_nothing_as_empty() -> None:
    memory = RiskMemory((1_000_000, 2_000_000))
    assert RiskMemory.from_record(memory.to_record()) == memory
    assert RiskMemory.from_record(None) == RiskMemory.from_record({}) == RiskMemory()
    assert RiskMemory.from_record({"recent": [3.0e6]}).recent_orders_us == (3_000_000,)


@pytest.mark.parametrize("recent", [[float("nan")], [float("inf")], ["12"], [1.5], [True], "12"])
def test_an_unreadable_risk_memory_is_refused_not_ignored(recent: object) -> None:
    with pytest.raises(ValueError, match="risk state"):
        RiskMemory.from_record({"recent": recent})
