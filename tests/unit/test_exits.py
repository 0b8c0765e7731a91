"""Exits of a long 0DTE option: target, stop, trailing stop, time exit, entry timeout."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from stocktracker.domain.exits import (
    CANCEL,
    PROFIT_TARGET,
    SEND,
    STOP_LOSS,
    TIME_EXIT,
    TRAILING_STOP,
    WAIT,
    ExitRule,
    Mark,
    PositionState,
    RestingExit,
    entry_timed_out,
    evaluate_exit,
    exit_limit,
    exit_limit_price,
    exit_order_id,
    exit_step,
    time_exit_us,
    update_high_water,
)
from stocktracker.domain.market_hours import MarketCalendar, Session
from stocktracker.domain.price_steps import PriceSteps

CAL = MarketCalendar()
DAY = date(2026, 11, 24)
HALF_DAY = date(2026, 11, 27)
RULE = ExitRule()  # +50 %, -30 %, trail 20 % once up 20 %, 15:10 ET


def utc(hour: int, minute: int, second: int = 0, day: date = DAY) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, second,
                        tzinfo=UTC).timestamp() * 1_000_000)


def session_of(day: date) -> Session:
    session = CAL.session_on(day)
    assert session is not None
    return session


SESSION = session_of(DAY)
NOON = utc(17, 0)  # 12:00 ET
POSITION = PositionState.opened("SPY261124C00591000", 3, 1.20, utc(15, 0), "2026-11-24",
                                "st-0123456789abcdef01234567")


def quote(mid: float, half_spread: float = 0.02) -> Mark:
    return Mark(round(mid - half_spread, 2), round(mid + half_spread, 2))


def test_nothing_happens_between_the_stop_and_the_target() -> None:
    for mid in (0.85, 1.00, 1.20, 1.44, 1.79):
        assert evaluate_exit(POSITION, quote(mid), NOON, RULE, SESSION) is None


def test_profit_target_sells_at_the_mid_less_a_tick() -> None:
    exit_ = evaluate_exit(POSITION, Mark(1.78, 1.84), NOON, RULE, SESSION)  # mid 1.81, +51 %
    assert exit_ is not None and exit_.reason == PROFIT_TARGET
    assert exit_.limit_price == 1.80 and exit_.qty == 3 and exit_.symbol == POSITION.symbol
    assert exit_.detail == "mark 1.81 is +51% from entry 1.20"
    assert exit_.client_order_id == exit_order_id(POSITION.entry_client_order_id, PROFIT_TARGET)
    exactly = evaluate_exit(POSITION, quote(1.80), NOON, RULE, SESSION)
    assert exactly is not None and exactly.reason == PROFIT_TARGET


def test_stop_loss_sells_at_the_bid() -> None:
    exit_ = evaluate_exit(POSITION, Mark(0.82, 0.86), NOON, RULE, SESSION)  # mid 0.84, -30 %
    assert exit_ is not None and exit_.reason == STOP_LOSS and exit_.limit_price == 0.82
    assert evaluate_exit(POSITION, quote(0.85), NOON, RULE, SESSION) is None


def test_the_trailing_stop_follows_the_high_once_armed() -> None:
    ran = update_high_water(POSITION, quote(1.60))  # +33 %: the trail is armed
    assert ran.high_water == pytest.approx(1.60)
    assert evaluate_exit(ran, quote(1.29), NOON, RULE, SESSION) is None  # -19 % from the high
    exit_ = evaluate_exit(ran, Mark(1.26, 1.30), NOON, RULE, SESSION)  # 1.28 = -20 %
    assert exit_ is not None and exit_.reason == TRAILING_STOP and exit_.limit_price == 1.26
    assert exit_.detail == "mark 1.28 is -20% from the high 1.60"


def test_the_trail_is_not_armed_before_the_gain() -> None:
    small = update_high_water(POSITION, quote(1.40))  # +17 %, below the +20 % arming gain
    assert evaluate_exit(small, quote(1.05), NOON, RULE, SESSION) is None  # -25 % from 1.40
    armed = replace(RULE, trail_after_gain_pct=0.0)
    exit_ = evaluate_exit(small, quote(1.05), NOON, armed, SESSION)
    assert exit_ is not None and exit_.reason == TRAILING_STOP


def test_the_current_mark_counts_towards_the_high() -> None:
    # not yet recorded: a mark of 2.00 is itself the high, and it is a profit target
    exit_ = evaluate_exit(POSITION, quote(2.00), NOON, RULE, SESSION)
    assert exit_ is not None and exit_.reason == PROFIT_TARGET


def test_high_water_only_rises_and_ignores_bad_quotes() -> None:
    high = update_high_water(POSITION, quote(1.50))
    assert update_high_water(high, quote(1.30)) is high
    assert update_high_water(high, Mark(2.10, 2.00)) is high  # crossed
    assert update_high_water(high, Mark(0.0, 0.0)) is high


def test_time_exit_at_15_10_on_the_expiry_day() -> None:
    assert time_exit_us(SESSION, RULE) == utc(20, 10)
    assert evaluate_exit(POSITION, quote(1.30), utc(20, 9, 59), RULE, SESSION) is None
    exit_ = evaluate_exit(POSITION, Mark(1.28, 1.32), utc(20, 10), RULE, SESSION)
    assert exit_ is not None and exit_.reason == TIME_EXIT and exit_.limit_price == 1.28
    later = replace(POSITION, expiry="2026-11-25")
    assert evaluate_exit(later, quote(1.30), utc(20, 30), RULE, SESSION) is None


def test_on_a_half_day_the_time_exit_comes_before_the_early_close() -> None:
    half = session_of(HALF_DAY)  # closes 13:00 ET
    friday = replace(POSITION, expiry="2026-11-27")
    assert time_exit_us(half, RULE) == utc(17, 10, 0, HALF_DAY)  # 12:10 ET
    exit_ = evaluate_exit(friday, quote(1.30), utc(17, 10, 0, HALF_DAY), RULE, half)
    assert exit_ is not None and exit_.reason == TIME_EXIT
    assert time_exit_us(half, replace(RULE, time_exit_et=None)) is None


def test_time_beats_the_price_rules_and_a_bad_quote_fires_only_the_time_exit() -> None:
    late = evaluate_exit(POSITION, quote(0.50), utc(20, 15), RULE, SESSION)
    assert late is not None and late.reason == TIME_EXIT
    assert evaluate_exit(POSITION, Mark(0.0, 0.0), NOON, RULE, SESSION) is None
    blank = evaluate_exit(POSITION, Mark(0.0, 0.0), utc(20, 15), RULE, SESSION)
    assert blank is not None and blank.limit_price == 0.01


def test_nothing_is_sent_outside_the_session_or_without_contracts() -> None:
    assert evaluate_exit(POSITION, quote(0.50), utc(21, 0), RULE, SESSION) is None
    assert evaluate_exit(POSITION, quote(0.50), NOON, RULE, None) is None
    assert evaluate_exit(replace(POSITION, qty=0), quote(0.50), NOON, RULE, SESSION) is None


def test_rules_can_be_switched_off() -> None:
    bare = ExitRule(profit_target_pct=None, stop_loss_pct=None, trailing_stop_pct=None,
                    time_exit_et=None)
    for mid in (0.20, 3.00):
        assert evaluate_exit(POSITION, quote(mid), NOON, bare, SESSION) is None


def test_exit_limit_prices() -> None:
    assert exit_limit_price(Mark(1.00, 1.06), "mid_minus_tick") == 1.02
    assert exit_limit_price(Mark(1.00, 1.01), "mid_minus_tick") == 1.00  # never below the bid
    assert exit_limit_price(Mark(0.45, 0.50), "bid") == 0.45
    assert exit_limit_price(Mark(0.0, 0.05), "bid") == 0.01


def test_exit_limits_go_on_the_class_price_steps() -> None:
    coarse = PriceSteps("XYZ", penny=False)  # $0.05 below $3, $0.10 above
    assert exit_limit_price(Mark(1.00, 1.12, coarse), "mid_minus_tick") == 1.00  # 1.06 - 0.05
    assert exit_limit_price(Mark(3.20, 3.60, coarse), "mid_minus_tick") == 3.30  # 3.40 - 0.10
    assert exit_limit_price(Mark(3.27, 3.40, coarse), "bid") == 3.20  # down, never up
    assert exit_limit_price(Mark(3.27, 3.40, PriceSteps("AAPL", True)), "bid") == 3.25
    assert exit_limit_price(Mark(3.27, 3.40, PriceSteps("SPY", True)), "bid") == 3.27
    assert exit_limit_price(Mark(0.0, 0.10, coarse), "bid") == 0.05  # one step on a zero bid


def test_exit_order_ids_are_deterministic() -> None:
    coid = POSITION.entry_client_order_id
    assert exit_order_id(coid, STOP_LOSS) == exit_order_id(coid, STOP_LOSS)
    assert exit_order_id(coid, STOP_LOSS) != exit_order_id(coid, PROFIT_TARGET)
    assert exit_order_id(coid, STOP_LOSS, attempt=1) != exit_order_id(coid, STOP_LOSS)
    assert exit_order_id(coid, TIME_EXIT).startswith("sx-") and len(exit_order_id(coid, TIME_EXIT)) == 27


def test_an_unfilled_entry_is_cancelled_after_the_timeout() -> None:
    sent = utc(15, 0)
    assert entry_timed_out(sent, sent + 59_999_999, 2, 0, RULE) is None
    assert entry_timed_out(sent, sent + 60_000_000, 2, 0, RULE) == (
        "entry unfilled after 60s (timeout 60s): cancel the remaining 2 of 2")
    assert entry_timed_out(sent, sent + 90_000_000, 2, 1, RULE) == (
        "entry unfilled after 90s (timeout 60s): cancel the remaining 1 of 2")
    assert entry_timed_out(sent, sent + 90_000_000, 2, 2, RULE) is None


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="limit style"):
        ExitRule(limit_style="market")
    with pytest.raises(ValueError, match="entry_timeout_us"):
        ExitRule(entry_timeout_us=0)


def test_exit_step_sends_waits_cancels_and_retries() -> None:
    assert exit_step(None, STOP_LOSS) == (SEND, 0)
    # a resting target stands for another target, and is cancelled for a stop
    assert exit_step(RestingExit(PROFIT_TARGET, "new"), PROFIT_TARGET) == (WAIT, 0)
    assert exit_step(RestingExit(PROFIT_TARGET, "new"), STOP_LOSS) == (CANCEL, 0)
    assert exit_step(RestingExit(PROFIT_TARGET, ""), TIME_EXIT) == (CANCEL, 0)
    # a resting stop is never cancelled for a target; a filled exit is left alone
    assert exit_step(RestingExit(STOP_LOSS, "partial_fill"), PROFIT_TARGET) == (WAIT, 0)
    assert exit_step(RestingExit(PROFIT_TARGET, "filled"), STOP_LOSS) == (WAIT, 0)
    # an exit that ended unfilled goes again, as the next attempt (a new order id)
    assert exit_step(RestingExit(PROFIT_TARGET, "canceled"), STOP_LOSS) == (SEND, 1)
    assert exit_step(RestingExit(STOP_LOSS, "rejected", attempt=1), STOP_LOSS) == (SEND, 2)
    assert exit_step(RestingExit(TIME_EXIT, "expired"), TIME_EXIT) == (SEND, 1)


def test_a_target_resting_too_long_is_sent_again_at_the_bid() -> None:
    minute = 60_000_000
    resting = RestingExit(PROFIT_TARGET, "new", attempt=0, sent_us=10 * minute)
    assert exit_step(resting, PROFIT_TARGET, 11 * minute - 1, minute) == (WAIT, 0)
    assert exit_step(resting, PROFIT_TARGET, 11 * minute, minute) == (CANCEL, 0)
    assert exit_step(resting, PROFIT_TARGET, 99 * minute, None) == (WAIT, 0)  # never re-priced
    # a resting stop is not re-priced: it is already at the bid
    assert exit_step(RestingExit(STOP_LOSS, "new", sent_us=0), STOP_LOSS, 99 * minute,
                     minute) == (WAIT, 0)
    # the cancelled target goes again as attempt 1, at the bid rather than inside the spread
    assert exit_step(replace(resting, status="canceled"), PROFIT_TARGET, 11 * minute,
                     minute) == (SEND, 1)
    mark = Mark(2.00, 2.10)
    assert exit_limit(PROFIT_TARGET, mark, RULE) == 2.04
    assert exit_limit(PROFIT_TARGET, mark, RULE, attempt=1) == 2.00
    assert exit_limit(STOP_LOSS, mark, RULE) == 2.00
    with pytest.raises(ValueError, match="reprice_after_us"):
        ExitRule(reprice_after_us=0)
