"""A bid and an ask for a price that came without them (a minute bar, a trade). Pure.

Historical bars and trades carry prices, not quotes. An imported quote is built around the
price (the bar's close, the trade's price) with a spread from this model:

- the underlying: ``underlying_bps`` of the price, at least one cent;
- an option: a share of its price that falls as the price rises (:data:`OPTION_LEVELS`:
  cheap contracts are quoted wider, relatively), at least ``min_ticks`` of its price step
  (:mod:`domain.price_steps`);
- either, widened to ``range_weight`` times the bar's high-low range when that is wider
  (a bar that moved a lot came from a market quoted wide), and never wider than
  ``max_share`` of the price.

The half-spread is then put on the price steps: the bid rounds down, the ask up, so the
spread is never narrower than the model's. The bid is never below zero.

Every figure is an assumption to calibrate against recorded quotes of the same contracts
(docs/architecture.md, "Imported quotes").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stocktracker.domain.price_steps import PriceSteps

OPTION_LEVELS: tuple[tuple[float, float], ...] = (
    (0.10, 0.50), (0.50, 0.20), (1.00, 0.10), (3.00, 0.06), (10.00, 0.04), (math.inf, 0.03))
"""(price up to, $; spread as a share of the price) for options, cheapest first."""


@dataclass(frozen=True, slots=True)
class SpreadModel:
    """The figures of the spread model (see the module docstring).

    Attributes
    ----------
    underlying_bps:
        The underlying's spread, basis points of its price (SPY trades a cent wide at
        ~$500: 0.2 bp; 1 bp leaves room for less liquid underlyings).
    min_ticks:
        An option's spread is at least this many of its price steps.
    levels:
        (price up to, share of the price) for options, cheapest first.
    range_weight:
        The spread is at least this share of the bar's high-low range (0 turns it off).
    max_share:
        The spread is at most this share of the price (the minimum tick still applies).
    """

    underlying_bps: float = 1.0
    min_ticks: int = 1
    levels: tuple[tuple[float, float], ...] = OPTION_LEVELS
    range_weight: float = 0.5
    max_share: float = 1.0

    def __post_init__(self) -> None:
        figures = (self.underlying_bps, self.range_weight, self.max_share,
                   *(f for level in self.levels for f in level))
        if any(math.isnan(f) for f in figures) or self.underlying_bps < 0 \
                or self.range_weight < 0 or self.max_share <= 0 or self.min_ticks < 1:
            raise ValueError("spread model figures must be numbers >= 0 (max_share > 0, "
                             "min_ticks >= 1)")
        if not self.levels or self.levels[-1][0] != math.inf:
            raise ValueError("the last spread level must cover every price (up to inf)")

    def option_share(self, price: float) -> float:
        """The option spread as a share of ``price`` (from :attr:`levels`)."""
        return next(share for upto, share in self.levels if price <= upto)

    def option_quote(self, price: float, steps: PriceSteps,
                     bar_range: float = 0.0) -> tuple[float, float]:
        """(bid, ask) of an option around ``price``, on its ``steps``.

        Raises
        ------
        ValueError
            When ``price`` or ``bar_range`` is not a finite number >= 0.
        """
        _check(price, bar_range)
        spread = self._widened(price * self.option_share(price), price, bar_range)
        return _on_steps(price, spread, steps.tick(price), self.min_ticks, steps)

    def underlying_quote(self, price: float, bar_range: float = 0.0) -> tuple[float, float]:
        """(bid, ask) of the underlying around ``price``, on cents.

        Raises
        ------
        ValueError
            When ``price`` or ``bar_range`` is not a finite number >= 0.
        """
        _check(price, bar_range)
        spread = self._widened(price * self.underlying_bps / 10_000, price, bar_range)
        return _on_steps(price, spread, 0.01, 1, None)

    def _widened(self, spread: float, price: float, bar_range: float) -> float:
        return min(max(spread, self.range_weight * bar_range), self.max_share * price)


def _check(price: float, bar_range: float) -> None:
    for name, value in (("price", price), ("bar range", bar_range)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")


def _on_steps(price: float, spread: float, tick: float, min_ticks: int,
              steps: PriceSteps | None) -> tuple[float, float]:
    half = max(spread, min_ticks * tick) / 2
    if steps is None:
        bid = math.floor((price - half) / tick + 1e-9) * tick
        ask = math.ceil((price + half) / tick - 1e-9) * tick
    else:
        bid = math.floor((price - half) / steps.tick(max(price - half, 0.0)) + 1e-9) \
            * steps.tick(max(price - half, 0.0))
        ask = steps.up(price + half)
    bid = round(max(bid, 0.0), 2)
    ask = round(ask, 2)
    if ask - bid < min_ticks * tick - 1e-9:  # rounding a tiny price to zero from both sides
        ask = round(bid + min_ticks * tick, 2)
    return bid, ask
