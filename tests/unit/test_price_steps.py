"""Option price increments: penny classes, SPY/QQQ/IWM at every price, coarse steps."""

from __future__ import annotations

import pytest

from stocktracker.domain.price_steps import PriceSteps

PENNY, ETF, COARSE, UNKNOWN = (PriceSteps("AAPL", True), PriceSteps("SPY", True),
                               PriceSteps("XYZ", False), PriceSteps("XYZ", None))


@pytest.mark.parametrize(("steps", "price", "tick"), [
    (ETF, 0.42, 0.01), (ETF, 12.34, 0.01),
    (PENNY, 2.99, 0.01), (PENNY, 3.00, 0.05), (PENNY, 7.10, 0.05),
    (COARSE, 0.40, 0.05), (COARSE, 2.95, 0.05), (COARSE, 3.00, 0.10),
    (UNKNOWN, 1.00, 0.05), (UNKNOWN, 4.00, 0.10),
    (PriceSteps("QQQ", None), 4.00, 0.01),  # known to be in pennies at every price
    (PriceSteps("QQQ", False), 4.00, 0.10),  # ... unless the source says otherwise
])
def test_tick_by_class_and_price(steps: PriceSteps, price: float, tick: float) -> None:
    assert steps.tick(price) == tick


def test_buys_round_up_and_sells_round_down() -> None:
    assert COARSE.up(1.01) == 1.05 and COARSE.down(1.04) == 1.00
    assert COARSE.up(2.98) == 3.00 and COARSE.up(3.01) == 3.10 and COARSE.down(3.19) == 3.10
    assert PENNY.up(3.01) == 3.05 and PENNY.down(2.999) == 2.99 and PENNY.up(1.234) == 1.24
    assert ETF.up(5.551) == 5.56 and ETF.down(5.559) == 5.55
    assert COARSE.up(1.05) == 1.05 and ETF.up(0.57) == 0.57  # on a step already: unchanged
    assert COARSE.down(0.01) == 0.05  # at least one step


@pytest.mark.parametrize(("steps", "price", "valid"), [
    (COARSE, 1.05, True), (COARSE, 1.07, False), (COARSE, 3.15, False), (COARSE, 3.20, True),
    (PENNY, 1.07, True), (PENNY, 3.07, False), (ETF, 3.07, True), (ETF, 0.0, False),
])
def test_on_step(steps: PriceSteps, price: float, valid: bool) -> None:
    assert steps.on_step(price) is valid


def test_every_rounded_price_is_on_a_step() -> None:
    for steps in (PENNY, ETF, COARSE, UNKNOWN):
        for cents in range(1, 1200):
            price = cents / 100
            assert steps.on_step(steps.up(price)) and steps.up(price) >= price - 1e-9
            assert steps.on_step(steps.down(price))
