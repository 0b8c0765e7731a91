"""Volatility: realised and implied vol, the regime, the jump guard, vol-scaled sizing and
the volatility risk checks.

Expected figures are worked out here by hand from closed forms (a three-sample series,
series whose every return has the same size, the at-the-money call formula inverted with
the standard library's NormalDist, Hull's textbook example), never copied from the code's
own output.
"""

from __future__ import annotations

import ast
import json
import math
import statistics
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stocktracker.domain.jumps import JumpGuard, JumpLimits, jump_threshold, recent_move
from stocktracker.domain.pricing import US_PER_YEAR, bs_price, implied_vol_skew
from stocktracker.domain.regime import (
    Regime,
    RegimeLimits,
    VolFigures,
    VolSizing,
    classify,
    measure,
    vol_scaled_size,
)
from stocktracker.domain.vol_risk import VOL_CHECKS, VolState, check_vol, vol_state
from stocktracker.domain.volatility import (
    MINUTE_US,
    TRADING_SECONDS_PER_YEAR,
    PriceWindow,
    calendar_to_trading_vol,
    chain_atm_iv,
    iv_from_price,
    realised_vols,
)

SECOND = 1_000_000
T0 = int(datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp()) * SECOND  # 10:00 ET
YEAR_S = 252 * 6.5 * 3600  # the trading year, written out independently


def window_of(samples: list[tuple[int, float]], step_us: int = SECOND) -> PriceWindow:
    window = PriceWindow(step_us=step_us)
    for t, p in samples:
        window = window.update(t, p)
    return window


def alternating(n_returns: int, size: float, start_us: int = T0, step_s: int = 5,
                base: float = 100.0) -> list[tuple[int, float]]:
    """Prices that go up ``size`` in log and back, so every log return is exactly ±size."""
    return [(start_us + k * step_s * SECOND, base * math.exp(size if k % 2 else 0.0))
            for k in range(n_returns + 1)]


# --- realised vol ---------------------------------------------------------------------

def test_the_trading_year_is_252_sessions_of_six_and_a_half_hours() -> None:
    assert TRADING_SECONDS_PER_YEAR == 5_896_800


def test_realised_vol_of_three_samples_by_hand() -> None:
    window = window_of([(T0, 100.0), (T0 + 10 * SECOND, 101.0), (T0 + 20 * SECOND, 100.5)])
    r1, r2 = math.log(101 / 100), math.log(100.5 / 101)
    expected = math.sqrt((r1 * r1 + r2 * r2) / 20.0 * YEAR_S)
    assert window.realised_vol(MINUTE_US) == pytest.approx(expected, rel=1e-12)


def test_each_window_sees_only_its_own_returns() -> None:
    a1, a2 = 0.0002, 0.001  # 29 quiet minutes, then a loud one (5 s steps)
    quiet = alternating(29 * 12, a1, step_s=5)
    loud = [(t + 29 * MINUTE_US, 100.0 * math.exp(a2 if k % 2 else 0.0))
            for k, (t, _) in enumerate(alternating(12, a2, step_s=5)) if k > 0]
    window = window_of(quiet + loud, step_us=5 * SECOND)
    now = T0 + 30 * MINUTE_US
    rv_1m, rv_5m, rv_30m = realised_vols(window, now)
    # every return the same size: variance per second = size**2 / 5 s
    assert rv_1m == pytest.approx(a2 * math.sqrt(YEAR_S / 5), rel=1e-9)
    assert rv_5m == pytest.approx(math.sqrt((48 * a1**2 + 12 * a2**2) / 300 * YEAR_S), rel=1e-9)
    assert rv_30m == pytest.approx(math.sqrt((348 * a1**2 + 12 * a2**2) / 1800 * YEAR_S), rel=1e-9)


def test_too_few_samples_give_no_vol() -> None:
    window = window_of([(T0, 100.0), (T0 + SECOND, 100.1)])
    assert window.realised_vol(MINUTE_US) is None
    assert PriceWindow().realised_vol(MINUTE_US) is None


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -5.0, True])
def test_bad_prices_are_ignored_and_never_nan_the_vol(bad: float) -> None:
    good = window_of([(T0, 100.0), (T0 + 10 * SECOND, 101.0), (T0 + 20 * SECOND, 100.5)])
    after = good.update(T0 + 30 * SECOND, bad)
    assert after == good
    vol = after.realised_vol(MINUTE_US)
    assert vol is not None and math.isfinite(vol)


def test_a_sample_older_than_the_newest_is_ignored() -> None:
    window = window_of([(T0, 100.0), (T0 + 10 * SECOND, 101.0)])
    assert window.update(T0 + 5 * SECOND, 150.0) == window


def test_the_last_tick_of_a_bucket_stands_for_it() -> None:
    window = window_of([(T0, 100.0), (T0 + 1 * SECOND, 100.2), (T0 + 4 * SECOND, 100.4)],
                       step_us=5 * SECOND)
    assert window.times_us == (T0 + 4 * SECOND,)
    assert window.prices == (100.4,)


def test_memory_is_bounded_by_the_horizon() -> None:
    window = window_of([(T0 + k * SECOND, 100.0 + (k % 7) * 0.01) for k in range(2 * 3600)])
    assert len(window.times_us) <= window.horizon_us // SECOND + 1
    assert window.times_us[0] >= window.times_us[-1] - window.horizon_us
    assert window.horizon_us >= 30 * MINUTE_US


def test_price_window_round_trips_through_json() -> None:
    window = window_of(alternating(40, 0.0007), step_us=5 * SECOND)
    record = json.loads(json.dumps(window.to_record()))
    assert PriceWindow.from_record(record) == window
    assert PriceWindow.from_record(None) == PriceWindow()


@pytest.mark.parametrize("record", [
    {"t": [T0, T0 + 1], "p": [100.0]},
    {"t": [T0, T0 - 1], "p": [100.0, 100.0]},
    {"t": [T0], "p": [math.nan]},
    {"t": [T0 + 0.5], "p": [100.0]},
    {"t": "x", "p": []},
])
def test_an_unreadable_price_window_is_refused(record: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PriceWindow.from_record(record)


# --- implied vol ----------------------------------------------------------------------

ZERO_DTE = 2 * 3600 * SECOND / US_PER_YEAR  # two hours to the close, pricing's year


@pytest.mark.parametrize(("strike", "kind", "vol", "t"), [
    (600.0, "call", 0.18, ZERO_DTE), (595.0, "put", 0.35, ZERO_DTE),
    (603.0, "call", 0.25, ZERO_DTE), (100.0, "put", 0.60, 0.25), (90.0, "call", 1.5, 1.0),
])
def test_price_to_iv_to_price_round_trips(strike: float, kind: str, vol: float, t: float) -> None:
    spot = 600.0 if strike > 500 else 100.0
    price = bs_price(spot, strike, t, vol, 0.04, kind)
    iv = iv_from_price(price, spot, strike, t, 0.04, kind)
    assert iv == pytest.approx(vol, abs=1e-6)
    assert bs_price(spot, strike, t, iv, 0.04, kind) == pytest.approx(price, abs=1e-9)


def test_hulls_textbook_example() -> None:
    # Hull, Options, Futures and Other Derivatives: S=42, K=40, r=10 %, T=0.5, σ=20 %
    # gives c = 4.76 and p = 0.81 (to the cent).
    assert iv_from_price(4.76, 42, 40, 0.5, 0.10, "call") == pytest.approx(0.20, abs=1e-3)
    assert iv_from_price(0.81, 42, 40, 0.5, 0.10, "put") == pytest.approx(0.20, abs=1e-3)


def test_at_the_money_call_inverted_with_the_normal_distribution() -> None:
    # r = 0, K = S: c = S (2 N(σ√T / 2) - 1), so σ = 2 N⁻¹((1 + c/S) / 2) / √T
    spot, price, t = 600.0, 1.10, 3 * 3600 * SECOND / US_PER_YEAR
    expected = 2 * statistics.NormalDist().inv_cdf((1 + price / spot) / 2) / math.sqrt(t)
    assert iv_from_price(price, spot, spot, t, 0.0, "call") == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(("price", "t", "kind"), [
    (1.50, 0.5, "call"),       # below intrinsic 42 - 40
    (2.00, 0.5, "call"),       # at intrinsic (r = 0): no vol says it
    (42.5, 0.5, "call"),       # above the spot: no vol reaches it
    (3.00, 0.0, "call"),       # expired
    (3.00, -0.1, "call"),
    (math.nan, 0.5, "call"),
    (0.00, 0.5, "put"),
])
def test_no_iv_outside_what_black_scholes_can_price(price: float, t: float, kind: str) -> None:
    assert iv_from_price(price, 42.0, 40.0, t, 0.0, kind) is None


@dataclass(frozen=True)
class Quote:
    option_type: str
    strike: float
    bid: float
    ask: float


def test_chain_iv_is_the_median_near_the_money() -> None:
    spot, close_us, rate = 600.0, T0 + 6 * 60 * MINUTE_US, 0.04
    t = (close_us - T0) / US_PER_YEAR
    chain = []
    for strike in range(585, 616):
        for kind in ("call", "put"):
            mid = bs_price(spot, strike, t, implied_vol_skew(spot, strike, 0.20), rate, kind)
            chain.append(Quote(kind, float(strike), mid - 0.005, mid + 0.005))
    chain += [Quote("call", 600.0, 0.0, 9.0),            # one-sided: skipped
              Quote("put", 600.0, 9.0, 8.0),             # crossed: skipped
              Quote("call", 620.0, 50.0, 50.1)]          # outside the band
    in_band = [s for s in range(585, 616) if abs(s / spot - 1) <= 0.01]
    expected = statistics.median(implied_vol_skew(spot, s, 0.20) for s in in_band for _ in "cp")
    iv = chain_atm_iv(chain, spot, T0, close_us, rate=rate, band=0.01)
    assert iv == pytest.approx(expected, abs=1e-6)
    assert chain_atm_iv(chain, spot, close_us, close_us) is None  # expired: no IV
    assert chain_atm_iv([], spot, T0, close_us) is None


def test_calendar_vol_in_trading_time_keeps_the_variance_per_session_second() -> None:
    calendar_s = 365 * 24 * 3600
    vol = calendar_to_trading_vol(0.30)
    assert vol**2 / YEAR_S == pytest.approx(0.30**2 / calendar_s, rel=1e-12)


# --- regime ---------------------------------------------------------------------------

NOW = T0 + 30 * MINUTE_US
BASE = VolFigures(rv_1m=0.15, rv_5m=0.15, rv_30m=0.15, iv_calendar=0.30,
                  last_price_us=NOW - SECOND, bid=600.00, ask=600.01)
TO_TRADING = math.sqrt(YEAR_S / (365 * 24 * 3600))


def test_the_base_figures_are_normal() -> None:
    assert classify(BASE, NOW, market_open=True).regime is Regime.NORMAL


@pytest.mark.parametrize(("change", "regime"), [
    ({"rv_5m": 0.09, "rv_30m": 0.09}, Regime.NORMAL),  # calm needs the implied vol quiet too
    ({"rv_5m": 0.09, "rv_30m": 0.09, "iv_calendar": 0.20}, Regime.CALM),
    ({"rv_1m": 0.60}, Regime.STRESSED),
    ({"rv_5m": 0.35}, Regime.STRESSED),
    ({"rv_30m": 0.30}, Regime.STRESSED),
    ({"iv_calendar": 0.401 / TO_TRADING}, Regime.STRESSED),
    ({"last_price_us": NOW - 30 * SECOND - 1}, Regime.HALTED),
    ({"last_price_us": None}, Regime.HALTED),
    ({"bid": 600.02}, Regime.HALTED),
    ({"rv_5m": 0.50, "bid": 600.02}, Regime.HALTED),  # halted comes first
])
def test_one_change_moves_the_regime(change: dict[str, object], regime: Regime) -> None:
    call = classify(replace(BASE, **change), NOW, market_open=True)
    assert call.regime is regime
    assert call.reason.startswith(regime.value) and "\n" not in call.reason


@pytest.mark.parametrize("change", [
    {"rv_5m": 0.09},                          # calm needs both
    {"rv_1m": 0.5999}, {"rv_5m": 0.3499}, {"rv_30m": 0.2999},
    {"iv_calendar": 0.399 / TO_TRADING},
    {"last_price_us": NOW - 30 * SECOND},     # exactly the limit
    {"bid": 600.01},                          # locked is not crossed
    {"rv_1m": None, "rv_5m": None},           # warming up
])
def test_just_inside_each_limit_stays_normal(change: dict[str, object]) -> None:
    call = classify(replace(BASE, **change), NOW, market_open=True)
    assert call.regime is Regime.NORMAL, call.reason


def test_silence_is_not_a_halt_when_the_market_is_closed() -> None:
    stale = replace(BASE, last_price_us=NOW - 3600 * SECOND)
    assert classify(stale, NOW, market_open=False).regime is Regime.NORMAL
    assert classify(stale, NOW, market_open=True).regime is Regime.HALTED


def test_custom_limits_move_the_thresholds() -> None:
    limits = RegimeLimits(stressed_rv_30m=0.12, halt_after_us=5 * SECOND)
    assert classify(BASE, NOW, True, limits).regime is Regime.STRESSED
    quiet = replace(BASE, rv_30m=0.11, last_price_us=NOW - 6 * SECOND)
    assert classify(quiet, NOW, True, limits).regime is Regime.HALTED


def test_measured_figures_from_a_loud_window_are_stressed() -> None:
    window = window_of(alternating(360, 0.003), step_us=5 * SECOND)  # 0.3 % every 5 s
    now = window.times_us[-1]
    figures = measure(window, now)
    assert figures.rv_30m == pytest.approx(0.003 * math.sqrt(YEAR_S / 5), rel=1e-9)
    assert figures.last_price_us == now
    assert classify(figures, now, market_open=True).regime is Regime.STRESSED


# --- jump guard -----------------------------------------------------------------------

def flat_then(move: float) -> tuple[PriceWindow, int]:
    """31 flat minutes at 100 then one sample ``move`` (log) away, 5 s later."""
    samples = [(T0 + k * 5 * SECOND, 100.0) for k in range(31 * 12 + 1)]
    jump_us = samples[-1][0] + 5 * SECOND
    return window_of([*samples, (jump_us, 100.0 * math.exp(move))], 5 * SECOND), jump_us


FLOOR_THRESHOLD = 5 * 0.10 * math.sqrt(60 / YEAR_S)  # 5 σ of a 10 % floor over a minute


def test_a_move_just_under_the_threshold_does_not_block() -> None:
    window, now = flat_then(0.99 * FLOOR_THRESHOLD)
    assert not JumpGuard().observe(window, now).blocked(now)
    window, now = flat_then(-0.99 * FLOOR_THRESHOLD)
    assert not JumpGuard().observe(window, now).blocked(now)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_jump_blocks_then_releases_in_event_time(sign: float) -> None:
    window, jump_us = flat_then(sign * 1.01 * FLOOR_THRESHOLD)
    guard = JumpGuard().observe(window, jump_us)
    assert guard.blocked(jump_us)
    assert guard.blocked(jump_us + 5 * MINUTE_US - 1)
    assert not guard.blocked(jump_us + 5 * MINUTE_US)
    assert guard.jump_us == jump_us and guard.move == pytest.approx(sign * 1.01 * FLOOR_THRESHOLD)


def test_the_block_holds_while_the_last_minute_shows_the_jump() -> None:
    window, jump_us = flat_then(2 * FLOOR_THRESHOLD)
    guard = JumpGuard().observe(window, jump_us)
    level = window.prices[-1]
    for k in range(1, 18):  # the price stays at its new level for 85 s
        window = window.update(jump_us + k * 5 * SECOND, level)
        guard = guard.observe(window, jump_us + k * 5 * SECOND)
    # at +60 s the price a minute before is the new level: +55 s last saw the jump
    last_seen = jump_us + 55 * SECOND
    assert guard.blocked(last_seen + 5 * MINUTE_US - 1)
    assert not guard.blocked(last_seen + 5 * MINUTE_US)


def test_sigma_is_measured_before_the_move() -> None:
    a = 0.00015  # every 5 s return ±a: σ_year = a √(Y / 5), over a minute a √12
    samples = alternating(31 * 12, a, step_s=5)
    then = samples[-12][1]  # the price a minute before the next sample
    now = samples[-1][0] + 5 * SECOND
    window = window_of([*samples, (now, then * math.exp(6 * a * math.sqrt(12)))], 5 * SECOND)
    assert jump_threshold(window, now, JumpLimits()) == pytest.approx(5 * a * math.sqrt(12), rel=1e-9)
    assert recent_move(window, now, MINUTE_US) == pytest.approx(6 * a * math.sqrt(12), rel=1e-9)
    assert JumpGuard().observe(window, now).blocked(now)


def test_one_sample_is_no_jump() -> None:
    window = window_of([(T0, 100.0)])
    assert JumpGuard().observe(window, T0) == JumpGuard()


def test_jump_guard_round_trips_through_json() -> None:
    window, jump_us = flat_then(-3 * FLOOR_THRESHOLD)
    guard = JumpGuard().observe(window, jump_us)
    back = JumpGuard.from_record(json.loads(json.dumps(guard.to_record())))
    assert back == guard and back.blocked(jump_us)
    assert JumpGuard.from_record(None) == JumpGuard()
    with pytest.raises(ValueError):
        JumpGuard.from_record({"blocked_until_us": "soon"})


# --- sizing ---------------------------------------------------------------------------

@pytest.mark.parametrize(("base", "vol", "qty"), [
    (4, 0.10, 4), (4, 0.15, 4), (4, 0.20, 3), (4, 0.30, 2), (4, 0.60, 1), (4, 1.20, 1),
    (3, 0.60, 0), (4, None, 1), (4, math.nan, 1), (-2, 0.10, 0),
])
def test_contracts_shrink_as_vol_rises(base: int, vol: float | None, qty: int) -> None:
    # 0.15 / vol, clamped to [0.25, 1], floored: 0.20 -> 0.75, 0.30 -> 0.5, 0.60 -> 0.25
    assert vol_scaled_size(base, vol, Regime.NORMAL).qty == qty


def test_sizing_is_monotone_in_vol_and_regime() -> None:
    vols = [0.05 * k for k in range(1, 40)]
    for base in range(0, 12):
        normal = [vol_scaled_size(base, v, Regime.NORMAL).qty for v in vols]
        assert normal == sorted(normal, reverse=True)
        assert all(0 <= q <= base for q in normal)
        for v in vols:
            calm = vol_scaled_size(base, v, Regime.CALM).qty
            stressed = vol_scaled_size(base, v, Regime.STRESSED, VolSizing(stressed_scale=0.5)).qty
            halted = vol_scaled_size(base, v, Regime.HALTED).qty
            assert calm == vol_scaled_size(base, v, Regime.NORMAL).qty >= stressed >= halted == 0


def test_stressed_buys_nothing_unless_configured() -> None:
    assert vol_scaled_size(8, 0.40, Regime.STRESSED).qty == 0
    assert vol_scaled_size(8, 0.40, Regime.STRESSED, VolSizing(stressed_scale=0.25)).qty == 2
    with pytest.raises(ValueError):
        VolSizing(min_scale=1.5)


# --- risk checks ----------------------------------------------------------------------

PASSING = VolState(regime=Regime.NORMAL, regime_reason="normal: fine", blocked_until_us=NOW - 1)


def test_the_base_state_passes_every_check() -> None:
    assert check_vol(NOW, PASSING) == ((), ())
    assert check_vol(NOW, replace(PASSING, regime=Regime.CALM)) == ((), ())


@pytest.mark.parametrize(("change", "failed"), [
    ({"regime": Regime.STRESSED}, ("vol_regime",)),
    ({"regime": Regime.HALTED}, ("vol_regime",)),
    ({"regime": Regime.HALTED, "allow_stressed": True}, ("vol_regime",)),
    ({"regime": Regime.STRESSED, "allow_halted": True}, ("vol_regime",)),
    ({"blocked_until_us": NOW + 1}, ("jump_guard",)),
    ({"regime": Regime.STRESSED, "allow_stressed": True}, ()),
    ({"regime": Regime.HALTED, "allow_halted": True}, ()),
    ({"blocked_until_us": NOW}, ()),
])
def test_each_check_fails_only_its_own_case(change: dict[str, object],
                                            failed: tuple[str, ...]) -> None:
    reasons, names = check_vol(NOW, replace(PASSING, **change))
    assert names == failed
    assert len(reasons) == len(failed) and all(r and "\n" not in r for r in reasons)


def test_checks_are_named_after_their_functions() -> None:
    assert [name for name, _ in VOL_CHECKS] == [run.__name__ for _, run in VOL_CHECKS]


def test_state_from_a_regime_call_and_a_jump_guard() -> None:
    window, jump_us = flat_then(2 * FLOOR_THRESHOLD)
    guard = JumpGuard().observe(window, jump_us)
    call = classify(replace(BASE, rv_5m=0.5, last_price_us=jump_us), jump_us, market_open=True)
    state = vol_state(call, guard)
    reasons, names = check_vol(jump_us + MINUTE_US, state)
    assert names == ("vol_regime", "jump_guard")
    assert "5-min realised vol" in reasons[0] and "240s more" in reasons[1]
    assert check_vol(jump_us + 5 * MINUTE_US, vol_state(call, guard, allow_stressed=True)) == ((), ())


def test_the_volatility_modules_use_only_the_standard_library() -> None:
    domain = Path(__file__).resolve().parents[2] / "domain"
    for name in ("volatility.py", "regime.py", "jumps.py", "vol_risk.py"):
        tree = ast.parse((domain / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) \
                    else [a.name for a in node.names]
                for module in modules:
                    top = module.split(".")[0]
                    assert top == "stocktracker" or top in sys.stdlib_module_names, (name, module)
