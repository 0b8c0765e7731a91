"""Operator commands: switches, flatten, limit overrides, and clear errors."""

from __future__ import annotations

from datetime import time

import pytest

from stocktracker.domain.control import (
    CANCEL_ENTRIES,
    CLOSE,
    FLATTEN,
    ControlError,
    ControlState,
    apply_command,
    effective_limits,
)
from stocktracker.domain.risk import RiskLimits

CALM = ControlState()


def test_pause_then_resume() -> None:
    paused, actions = apply_command(CALM, "pause", {"reason": "FOMC at 14:00"})
    assert paused.paused and not paused.killed and actions == ()
    resumed, _ = apply_command(paused, "resume", {})
    assert resumed == CALM


def test_kill_stays_on_until_resume_and_cancels_resting_entries() -> None:
    killed, actions = apply_command(CALM, "kill", {})
    assert killed.killed and actions == (CANCEL_ENTRIES,)
    still, _ = apply_command(killed, "pause", {})
    assert still.killed and still.paused
    assert apply_command(still, "resume", {})[0] == CALM


def test_kill_can_flatten_too() -> None:
    killed, actions = apply_command(CALM, "kill", {"flatten": "true"})
    assert killed.killed and actions == (CANCEL_ENTRIES, FLATTEN)


def test_flatten_closes_everything_and_leaves_the_switches() -> None:
    paused = ControlState(paused=True)
    state, actions = apply_command(paused, " FLATTEN ", None)
    assert state == paused and actions == (CANCEL_ENTRIES, FLATTEN)


def test_close_closes_one_position_and_leaves_the_switches() -> None:
    paused = ControlState(paused=True)
    state, actions = apply_command(paused, "close", {"symbol": "SPY261124C00590000"})
    assert state == paused and actions == (CLOSE,)


def test_set_limits_parses_and_applies_overrides() -> None:
    state, actions = apply_command(CALM, "set_limits", {
        "max_daily_loss": "500", "max_contracts_per_order": "2", "entry_cutoff_et": "14:30",
        "max_quote_age_s": "7.5", "limit_band": "0.05"})
    assert actions == ()
    assert state.limits == {"max_daily_loss": 500.0, "max_contracts_per_order": 2,
                            "entry_cutoff_et": time(14, 30), "max_quote_age_s": 7.5,
                            "limit_band": 0.05}
    limits = effective_limits(RiskLimits(), state)
    assert limits.max_daily_loss == 500.0 and limits.max_contracts_per_order == 2
    assert limits.entry_cutoff_et == time(14, 30) and limits.max_quote_age_us == 7_500_000
    assert limits.max_limit_band == 0.05 and limits.max_total_contracts == 20  # untouched


def test_overrides_accumulate_until_reset() -> None:
    first, _ = apply_command(CALM, "set_limits", {"max_daily_loss": "500"})
    both, _ = apply_command(first, "set_limits", {"max_total_premium": "3000"})
    assert both.limits == {"max_daily_loss": 500.0, "max_total_premium": 3000.0}
    fresh, _ = apply_command(both, "set_limits", {"reset": "true", "max_post_age_s": "10"})
    assert fresh.limits == {"max_post_age_s": 10.0}
    assert effective_limits(RiskLimits(), fresh).max_post_age_us == 10_000_000
    cleared, _ = apply_command(fresh, "set_limits", {"reset": "true"})
    assert cleared.limits == {} and effective_limits(RiskLimits(), cleared) == RiskLimits()


def test_the_time_cut_off_can_be_turned_off() -> None:
    state, _ = apply_command(CALM, "set_limits", {"entry_cutoff_et": "off"})
    assert effective_limits(RiskLimits(), state).entry_cutoff_et is None


@pytest.mark.parametrize(("command", "params", "message"), [
    ("liquidate", {}, "unknown command 'liquidate'; known: pause, resume, kill, flatten, close, "
                      "set_limits"),
    ("close", {}, "close needs symbol=<OCC option symbol>, not ''"),
    ("close", {"symbol": "SPY", "qty": "1"}, "close takes symbol (and reason), not qty"),
    ("pause", {"minutes": "5"}, "pause takes no params (and reason), not minutes"),
    ("kill", {"flatten": "maybe"}, "flatten must be true or false, not 'maybe'"),
    ("set_limits", {}, "set_limits needs at least one limit"),
    ("set_limits", {"max_loss": "500"}, "unknown limit 'max_loss'; known: entry_cutoff_et"),
    ("set_limits", {"max_daily_loss": "-500"}, "max_daily_loss must be > 0, not '-500'"),
    ("set_limits", {"max_daily_loss": "lots"}, "max_daily_loss must be a number, not 'lots'"),
    ("set_limits", {"max_contracts_per_order": "2.5"},
     "max_contracts_per_order must be an integer, not '2.5'"),
    ("set_limits", {"limit_band": "1.5"}, "limit_band must be in (0, 1], not '1.5'"),
    ("set_limits", {"max_daily_loss": "NaN"}, "max_daily_loss must be a finite number, not 'NaN'"),
    ("set_limits", {"max_daily_loss": "inf"}, "max_daily_loss must be a finite number"),
    ("set_limits", {"max_quote_age_s": "nan"}, "max_quote_age_s must be a finite number"),
    ("set_limits", {"max_total_contracts": "-Infinity"}, "max_total_contracts must be a finite"),
    ("set_limits", {"limit_band": "nan"}, "limit_band must be a finite number"),
    ("set_limits", {"max_daily_loss": "1e9"}, "max_daily_loss must be at most 10,000,000"),
    ("set_limits", {"max_contracts_per_order": "5000"},
     "max_contracts_per_order must be at most 1,000"),
    ("set_limits", {"max_quote_age_s": "86400"}, "max_quote_age_s must be at most 3,600"),
    ("set_limits", {"entry_cutoff_et": "3pm"}, "entry_cutoff_et must be HH:MM (New York) or 'off'"),
])
def test_bad_commands_say_what_is_wrong(command: str, params: dict[str, str], message: str) -> None:
    with pytest.raises(ControlError) as caught:
        apply_command(CALM, command, params)
    assert str(caught.value).startswith(message)


def test_set_limits_is_all_or_nothing() -> None:
    state, _ = apply_command(CALM, "set_limits", {"max_daily_loss": "500"})
    with pytest.raises(ControlError):
        apply_command(state, "set_limits", {"max_total_premium": "3000", "limit_band": "2"})
    assert state.limits == {"max_daily_loss": 500.0}


def test_entry_cutoff_minutes_may_be_zero() -> None:
    state, _ = apply_command(CALM, "set_limits", {"entry_cutoff_minutes": "0"})
    assert effective_limits(RiskLimits(), state).entry_cutoff_minutes == 0


def test_the_state_round_trips_through_a_table_record() -> None:
    state, _ = apply_command(ControlState(killed=True), "set_limits",
                             {"entry_cutoff_et": "14:45", "max_daily_loss": "750"})
    record = state.to_record()
    assert record == {"paused": False, "killed": True,
                      "limits": {"entry_cutoff_et": "14:45", "max_daily_loss": 750.0}}
    assert ControlState.from_record(record) == state
    assert ControlState.from_record({}) == CALM


@pytest.mark.parametrize("stored", [
    {"paused": False, "killed": False, "limits": {"max_daily_loss": "NaN"}},
    {"paused": False, "killed": False, "limits": {"max_daily_loss": float("inf")}},
    {"paused": False, "killed": False, "limits": {"max_orders_per_minute": -3}},
])
def test_a_stored_limit_that_is_invalid_is_refused_at_load(stored: dict[str, object]) -> None:
    with pytest.raises(ControlError):
        ControlState.from_record(stored)


def test_the_owner_keeps_the_last_valid_state_when_the_stored_one_is_invalid() -> None:
    from types import SimpleNamespace

    from stocktracker.agents.control import KEY, current_state
    from stocktracker.agents.host import ControlHolder

    good = apply_command(CALM, "set_limits", {"max_daily_loss": "500"})[0]
    table = {KEY: good.to_record()}
    p = SimpleNamespace(tables=SimpleNamespace(control=table), control=ControlHolder())
    assert current_state(p) == good  # type: ignore[arg-type]
    table[KEY] = {**good.to_record(), "killed": True, "limits": {"max_daily_loss": "nan"}}
    assert current_state(p) == good  # type: ignore[arg-type]
    assert effective_limits(RiskLimits(), current_state(p)).max_daily_loss == 500.0  # type: ignore[arg-type]
    table[KEY] = {**good.to_record(), "killed": True}
    assert current_state(p).killed  # type: ignore[arg-type]
