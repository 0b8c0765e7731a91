"""Black-Scholes, the skew, year fractions and OCC symbols."""

from __future__ import annotations

import math
import re
from datetime import date
from itertools import pairwise

import pytest

from stocktracker.domain.pricing import (
    US_PER_YEAR,
    bs_delta,
    bs_price,
    bs_price_delta,
    implied_vol_skew,
    occ_symbol,
    year_fraction_us,
)

GRID = [(590.0, k, t, v, r) for k in (570.0, 589.0, 590.0, 591.5, 610.0)
        for t in (2e-6, 1e-4, 0.001, 0.25, 1.0) for v in (0.08, 0.15, 0.6) for r in (0.0, 0.04)]


def test_known_values() -> None:
    assert bs_price(100, 100, 1.0, 0.2, 0.0, "call") == pytest.approx(7.9656, abs=1e-4)
    assert bs_price(100, 100, 1.0, 0.2, 0.0, "put") == pytest.approx(7.9656, abs=1e-4)
    # Hull, Options, Futures and Other Derivatives: S=42, K=40, r=10%, vol=20%, T=0.5
    assert bs_price(42, 40, 0.5, 0.2, 0.1, "call") == pytest.approx(4.76, abs=0.005)
    assert bs_price(42, 40, 0.5, 0.2, 0.1, "put") == pytest.approx(0.81, abs=0.005)
    assert bs_delta(42, 40, 0.5, 0.2, 0.1, "call") == pytest.approx(0.7791, abs=1e-4)


@pytest.mark.parametrize(("spot", "strike", "t", "vol", "rate"), GRID)
def test_put_call_parity_and_bounds(spot: float, strike: float, t: float, vol: float,
                                    rate: float) -> None:
    call = bs_price(spot, strike, t, vol, rate, "call")
    put = bs_price(spot, strike, t, vol, rate, "put")
    disc_strike = strike * math.exp(-rate * t)
    assert call - put == pytest.approx(spot - disc_strike, abs=1e-9 * spot)
    assert max(spot - disc_strike, 0.0) - 1e-9 <= call <= spot
    assert max(disc_strike - spot, 0.0) - 1e-9 <= put <= disc_strike
    call_delta = bs_delta(spot, strike, t, vol, rate, "call")
    put_delta = bs_delta(spot, strike, t, vol, rate, "put")
    assert 0.0 <= call_delta <= 1.0 and -1.0 <= put_delta <= 0.0
    assert call_delta - put_delta == pytest.approx(1.0)
    assert bs_price_delta(spot, strike, t, vol, rate, "put") == (put, put_delta)


def test_delta_is_the_slope_of_the_price() -> None:
    h = 1e-3
    for kind in ("call", "put"):
        slope = (bs_price(590 + h, 592, 0.0005, 0.15, 0.04, kind)
                 - bs_price(590 - h, 592, 0.0005, 0.15, 0.04, kind)) / (2 * h)
        assert bs_delta(590, 592, 0.0005, 0.15, 0.04, kind) == pytest.approx(slope, abs=1e-5)


def test_monotonicity() -> None:
    spots = [570 + 0.5 * i for i in range(81)]
    deltas = [bs_delta(s, 590, 0.0005, 0.15, 0.04, "call") for s in spots]
    assert all(a <= b for a, b in pairwise(deltas))
    assert deltas[0] < 1e-6 and deltas[-1] > 1 - 1e-6 and deltas[39] < 0.5 < deltas[41]
    near = deltas[30:51]  # within ±2.5 of the strike: strictly increasing
    assert all(a < b for a, b in pairwise(near))
    strikes = [580 + i for i in range(21)]
    calls = [bs_price(590, k, 0.0005, 0.15, 0.04, "call") for k in strikes]
    puts = [bs_price(590, k, 0.0005, 0.15, 0.04, "put") for k in strikes]
    assert all(a >= b for a, b in pairwise(calls))
    assert all(a <= b for a, b in pairwise(puts))
    assert calls[0] > calls[-1] and puts[-1] > puts[0]
    vols = [bs_price(590, 592, 0.001, v / 100, 0.0, "call") for v in range(5, 80, 5)]
    assert all(a < b for a, b in pairwise(vols))


def test_expiry_is_intrinsic_with_step_deltas() -> None:
    for t in (0.0, -0.01):
        assert bs_price(590, 585, t, 0.15, 0.04, "call") == 5.0
        assert bs_price(590, 585, t, 0.15, 0.04, "put") == 0.0
        assert bs_price(590, 600, t, 0.15, 0.04, "put") == 10.0
        assert bs_delta(590, 585, t, 0.15, 0.04, "call") == 1.0
        assert bs_delta(590, 600, t, 0.15, 0.04, "call") == 0.0
        assert bs_delta(590, 600, t, 0.15, 0.04, "put") == -1.0
        assert bs_delta(590, 585, t, 0.15, 0.04, "put") == 0.0
        assert bs_delta(590, 590, t, 0.15, 0.04, "call") == 0.5
        assert bs_delta(590, 590, t, 0.15, 0.04, "put") == -0.5
    # zero vol before expiry: the discounted forward's intrinsic value
    assert bs_price(590, 600, 0.5, 0.0, 0.04, "call") == pytest.approx(
        590 - 600 * math.exp(-0.02))


def test_tiny_time_is_finite_and_converges_to_intrinsic() -> None:
    for t in (2e-6, 1e-9, 1e-15, 1e-300):
        for strike in (589.0, 589.99, 590.0, 590.01, 591.0):
            for kind in ("call", "put"):
                price, delta = bs_price_delta(590.0, strike, t, 0.15, 0.04, kind)
                assert math.isfinite(price) and math.isfinite(delta)
    # 0DTE at 15:59: a dollar in the money is worth the dollar, a dollar out nearly nothing
    assert bs_price(590, 589, 2e-6, 0.15, 0.04, "call") == pytest.approx(1.0, abs=1e-3)
    assert bs_price(590, 591, 2e-6, 0.15, 0.04, "call") < 1e-6
    assert bs_price(590, 590, 2e-6, 0.15, 0.0, "call") == pytest.approx(
        590 * 0.15 * math.sqrt(2e-6 / (2 * math.pi)), rel=1e-3)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        bs_price(590, 590, 0.01, 0.15, 0.0, "straddle")
    with pytest.raises(ValueError):
        bs_delta(0.0, 590, 0.01, 0.15, 0.0, "call")
    with pytest.raises(ValueError):
        occ_symbol("SPY", date(2026, 11, 24), "Call", 590)


def test_skew_makes_lower_strikes_richer() -> None:
    assert implied_vol_skew(590, 590, 0.15) == pytest.approx(0.15)
    ivs = [implied_vol_skew(590, k, 0.15) for k in range(570, 611)]
    assert all(a > b for a, b in pairwise(ivs))
    assert implied_vol_skew(590, 580, 0.15) > 0.15 > implied_vol_skew(590, 600, 0.15)
    # the smile: the same distance costs more on both wings than the skew line alone
    low, high = implied_vol_skew(590, 560, 0.15), implied_vol_skew(590, 620, 0.15)
    assert low + high > 2 * 0.15
    assert implied_vol_skew(590, 590 * 10, 0.15, skew=50.0, smile=0.0) == pytest.approx(0.15 * 0.25)
    assert implied_vol_skew(590, 5, 0.15) == pytest.approx(0.15 * 4.0)


def test_year_fraction() -> None:
    assert year_fraction_us(0, US_PER_YEAR) == 1.0
    assert year_fraction_us(10, 10 + int(6.5 * 3600e6)) == pytest.approx(6.5 / (365 * 24))
    assert year_fraction_us(100, 40) == 0.0


def test_occ_symbols() -> None:
    expiry = date(2026, 11, 24)
    assert occ_symbol("SPY", expiry, "call", 590) == "SPY261124C00590000"
    assert occ_symbol("SPY", expiry, "put", 589.5) == "SPY261124P00589500"
    assert occ_symbol("SPX", date(2027, 1, 5), "put", 5900) == "SPX270105P05900000"
    assert occ_symbol("QQQ", expiry, "call", 0.5) == "QQQ261124C00000500"
    assert re.fullmatch(r"[A-Z]{1,6}\d{6}[CP]\d{8}", occ_symbol("IWM", expiry, "call", 221.0))
    with pytest.raises(ValueError):
        occ_symbol("SPY", expiry, "call", 100_000)
    with pytest.raises(ValueError):
        occ_symbol("", expiry, "call", 590)
