"""The spread model: bid and ask for a price without them, checked against figures worked
out by hand (every case names its arithmetic)."""

from __future__ import annotations

import math

import pytest

from stocktracker.domain.price_steps import PriceSteps
from stocktracker.domain.spread_model import SpreadModel

SPY = PriceSteps("SPY", True)  # $0.01 at every price
COARSE = PriceSteps("XYZ", False)  # $0.05 below $3, $0.10 from $3
MODEL = SpreadModel()


def test_an_underlying_is_quoted_a_basis_point_wide_rounded_out_to_cents() -> None:
    # 500.00 * 1 bp = 0.05; half 0.025: bid floor(499.975) = 499.97, ask ceil(500.025) = 500.03
    assert MODEL.underlying_quote(500.0) == (499.97, 500.03)


def test_a_cheap_underlying_still_has_one_cent() -> None:
    # 20.00 * 1 bp = 0.002 < one cent: half 0.005 -> 19.99 / 20.01
    assert MODEL.underlying_quote(20.0) == (19.99, 20.01)


def test_an_option_at_a_dollar_is_ten_percent_wide() -> None:
    # level (0.50, 1.00]: 10 %: 0.10 wide, half 0.05 -> 0.95 / 1.05
    assert MODEL.option_quote(1.00, SPY) == (0.95, 1.05)


def test_cheap_options_are_wider_relative_to_their_price() -> None:
    # 0.05: level <= 0.10, 50 %: 0.025 wide, half 0.0125 -> floor(0.0375)=0.03, ceil(0.0625)=0.07
    bid, ask = MODEL.option_quote(0.05, SPY)
    assert (bid, ask) == (0.03, 0.07)
    assert (ask - bid) / 0.05 > (1.05 - 0.95) / 1.00


def test_a_dear_option_is_three_percent_wide() -> None:
    # 12.00: level > 10, 3 %: 0.36 wide, half 0.18 -> 11.82 / 12.18
    assert MODEL.option_quote(12.00, SPY) == (11.82, 12.18)


def test_a_class_out_of_the_penny_program_is_quoted_on_nickels() -> None:
    # 2.00: 6 % -> 0.12, half 0.06: bid floor(1.94 / 0.05) * 0.05 = 1.90, ask up(2.06) = 2.10
    assert MODEL.option_quote(2.00, COARSE) == (1.90, 2.10)


def test_the_spread_is_at_least_one_tick() -> None:
    # 0.02 on nickels: 50 % = 0.01 < one tick 0.05: half 0.025 -> bid 0, ask up(0.045) = 0.05
    assert MODEL.option_quote(0.02, COARSE) == (0.0, 0.05)
    # two ticks asked: half 0.05 around 1.00 on pennies (10 % = 0.10 already): unchanged
    assert SpreadModel(min_ticks=2).option_quote(1.00, SPY) == (0.95, 1.05)


def test_a_bar_that_moved_widens_the_spread() -> None:
    # range 0.40, weight 0.5: 0.20 > 10 % of 1.00: half 0.10 -> 0.90 / 1.10
    assert MODEL.option_quote(1.00, SPY, bar_range=0.40) == (0.90, 1.10)
    # range 0.10: 0.05 < 0.10: the level's spread stays
    assert MODEL.option_quote(1.00, SPY, bar_range=0.10) == (0.95, 1.05)
    # weight 0: the range is ignored
    assert SpreadModel(range_weight=0).option_quote(1.00, SPY, bar_range=0.40) == (0.95, 1.05)


def test_the_spread_is_capped_by_a_share_of_the_price() -> None:
    # range 2.00 * 0.5 = 1.00, capped at 25 % of 2.00 = 0.50: half 0.25 -> 1.75 / 2.25
    assert SpreadModel(max_share=0.25).option_quote(2.00, SPY, bar_range=2.0) == (1.75, 2.25)


def test_a_worthless_option_bids_nothing_and_asks_a_tick() -> None:
    assert MODEL.option_quote(0.0, SPY) == (0.0, 0.01)


@pytest.mark.parametrize("price", [math.nan, math.inf, -0.01])
def test_a_price_that_is_not_a_finite_non_negative_number_is_refused(price: float) -> None:
    with pytest.raises(ValueError, match="price"):
        MODEL.option_quote(price, SPY)
    with pytest.raises(ValueError, match="price"):
        MODEL.underlying_quote(price)


def test_a_range_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="bar range"):
        MODEL.option_quote(1.0, SPY, bar_range=math.nan)


def test_figures_that_make_no_model_are_refused() -> None:
    with pytest.raises(ValueError, match="figures"):
        SpreadModel(underlying_bps=math.nan)
    with pytest.raises(ValueError, match="figures"):
        SpreadModel(min_ticks=0)
    with pytest.raises(ValueError, match="last spread level"):
        SpreadModel(levels=((1.0, 0.1),))
