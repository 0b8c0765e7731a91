"""Option price increments (the minimum tick), and limit prices put on them. Pure.

US equity options quote in steps that depend on the class and the price:

- classes in the penny program (Alpaca's contract field ``ppind``): $0.01 below $3.00,
  $0.05 from $3.00;
- SPY, QQQ and IWM: $0.01 at every price (:data:`PENNY_AT_ALL_PRICES`; known, so also
  when the source does not say);
- every other class: $0.05 below $3.00, $0.10 from $3.00.

An off-step limit is rejected or rerouted by the exchanges, so a limit is put on the step
before it is sent: a buy rounds up (a limit at the ask stays marketable), a sell rounds
down. When the source does not say whether a class is in the penny program (``penny`` is
``None``), the coarse steps are used: a price on them is valid in either program.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PENNY_AT_ALL_PRICES = frozenset({"SPY", "QQQ", "IWM"})
BREAK = 3.00  # $: the steps widen from this price
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class PriceSteps:
    """The increments of one option class.

    Attributes
    ----------
    underlying:
        The class's underlying symbol (``SPY``).
    penny:
        In the penny program (``True``), not (``False``), or not known (``None``: the
        coarse steps, valid either way, except for the classes known to be in pennies).
    """

    underlying: str = "SPY"
    penny: bool | None = True

    def tick(self, price: float) -> float:
        """The minimum increment at ``price``, $."""
        if self.penny is not False and self.underlying.upper() in PENNY_AT_ALL_PRICES:
            return 0.01
        fine, coarse = (0.01, 0.05) if self.penny else (0.05, 0.10)
        return fine if price < BREAK - _EPS else coarse

    def up(self, price: float) -> float:
        """``price`` rounded up onto the steps (a buy limit)."""
        tick = self.tick(price)  # below the break a step up lands on 3.00 at most: on both
        return round(math.ceil(price / tick - _EPS) * tick, 2)

    def down(self, price: float) -> float:
        """``price`` rounded down onto the steps (a sell limit); at least one step."""
        tick = self.tick(price)
        return max(round(math.floor(price / tick + _EPS) * tick, 2), self.tick(0.0))

    def on_step(self, price: float) -> bool:
        """Whether ``price`` is a valid limit for this class."""
        tick = self.tick(price)
        units = price / tick
        return price > 0 and abs(units - round(units)) < 1e-6



PENNY_STEPS = PriceSteps()  # SPY's: $0.01 at every price
