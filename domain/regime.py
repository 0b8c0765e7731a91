"""The volatility regime of an underlying, and sizing scaled by vol. Pure:
event time (µs) and the measured figures come in as arguments.

Every vol here is annualised in trading time (:mod:`domain.volatility`'s convention),
implied vols after :func:`~domain.volatility.calendar_to_trading_vol`, so that one set of
thresholds reads the same for realised and implied figures. Defaults are set for SPY,
whose realised vol runs ~10-20 % on ordinary days and 30 %+ on stressed ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from stocktracker.domain.volatility import PriceWindow, calendar_to_trading_vol, realised_vols


class Regime(StrEnum):
    """An underlying's volatility regime (a ``str``, so records carry it as is)."""

    CALM = "calm"
    NORMAL = "normal"
    STRESSED = "stressed"
    HALTED = "halted"


@dataclass(frozen=True, slots=True)
class RegimeLimits:
    """Thresholds of :func:`classify` (vols annualised in trading time, 0.10 = 10 %).

    Attributes
    ----------
    calm_below:
        Calm when the 5- and 30-minute realised vols are both known and below this (10 %).
    stressed_rv_1m, stressed_rv_5m, stressed_rv_30m:
        Stressed when any realised vol is at or above its threshold (60 %, 35 %, 30 %):
        the shorter the window, the noisier the figure, the higher the bar.
    stressed_iv:
        Stressed when the near-the-money implied vol (converted to trading time) is at or
        above this (40 %, about 92 % in the calendar convention of a 0DTE quote).
    halt_after_us:
        Halted-like when no underlying price came for this long (30 s) in market hours;
        SPY ticks many times a second, so 30 s of silence is a halt or a dead feed.
    iv_max_age_us:
        A near-the-money implied vol measured longer ago than this (5 min) is not used.
    """

    calm_below: float = 0.10
    stressed_rv_1m: float = 0.60
    stressed_rv_5m: float = 0.35
    stressed_rv_30m: float = 0.30
    stressed_iv: float = 0.40
    halt_after_us: int = 30_000_000
    iv_max_age_us: int = 300_000_000


@dataclass(frozen=True, slots=True)
class VolFigures:
    """What was measured of one underlying (``None``: not known).

    Attributes
    ----------
    rv_1m, rv_5m, rv_30m:
        Realised vols (trading time).
    iv_calendar:
        Near-the-money implied vol as :func:`~domain.volatility.chain_atm_iv` gives it
        (calendar convention; :func:`classify` converts it).
    last_price_us:
        Time of the last underlying price (µs).
    bid, ask:
        The underlying's last quote.
    """

    rv_1m: float | None = None
    rv_5m: float | None = None
    rv_30m: float | None = None
    iv_calendar: float | None = None
    last_price_us: int | None = None
    bid: float | None = None
    ask: float | None = None


@dataclass(frozen=True, slots=True)
class RegimeCall:
    """A regime and the one line that says why."""

    regime: Regime
    reason: str


def measure(window: PriceWindow, now_us: int, iv_calendar: float | None = None,
            bid: float | None = None, ask: float | None = None) -> VolFigures:
    """The figures of ``window`` at ``now_us``, with the chain IV and quote if known."""
    rv_1m, rv_5m, rv_30m = realised_vols(window, now_us)
    return VolFigures(rv_1m, rv_5m, rv_30m, iv_calendar, window.last_us, bid, ask)


def _halted(figures: VolFigures, now_us: int, market_open: bool,
            limits: RegimeLimits) -> str | None:
    if figures.bid is not None and figures.ask is not None and figures.bid > figures.ask:
        return f"crossed quote: bid {figures.bid:g} > ask {figures.ask:g}"
    if not market_open:
        return None
    if figures.last_price_us is None:
        return "no underlying price yet in market hours"
    age = now_us - figures.last_price_us
    if age > limits.halt_after_us:
        return (f"no underlying price for {age / 1e6:.1f}s in market hours "
                f"(max {limits.halt_after_us / 1e6:g}s)")
    return None


def _trading_iv(figures: VolFigures) -> float | None:
    return None if figures.iv_calendar is None else calendar_to_trading_vol(figures.iv_calendar)


def _stressed(figures: VolFigures, limits: RegimeLimits) -> list[str]:
    iv = _trading_iv(figures)
    tests = (("1-min realised vol", figures.rv_1m, limits.stressed_rv_1m),
             ("5-min realised vol", figures.rv_5m, limits.stressed_rv_5m),
             ("30-min realised vol", figures.rv_30m, limits.stressed_rv_30m),
             ("ATM implied vol", iv, limits.stressed_iv))
    return [f"{name} {value:.1%} >= {bar:.0%}" for name, value, bar in tests
            if value is not None and value >= bar]


def classify(figures: VolFigures, now_us: int, market_open: bool,
             limits: RegimeLimits | None = None) -> RegimeCall:
    """The regime of one underlying at ``now_us`` and why.

    First that applies: **halted** (crossed underlying quote; or, in market hours, no
    price for ``halt_after_us`` or none yet), **stressed** (any realised vol, or the
    near-the-money implied vol, at or above its threshold; all of them named), **calm**
    (5- and 30-minute realised vols known and below ``calm_below``, and the implied vol
    too when it is known), else **normal** (including while the vols are still warming up).
    """
    limits = limits or RegimeLimits()
    halted = _halted(figures, now_us, market_open, limits)
    if halted is not None:
        return RegimeCall(Regime.HALTED, f"halted: {halted}")
    stressed = _stressed(figures, limits)
    if stressed:
        return RegimeCall(Regime.STRESSED, "stressed: " + ", ".join(stressed))
    rv_5m, rv_30m, iv = figures.rv_5m, figures.rv_30m, _trading_iv(figures)
    if rv_5m is None or rv_30m is None:
        return RegimeCall(Regime.NORMAL, "normal: realised vol still warming up")
    implied = "" if iv is None else f", ATM implied vol {iv:.1%}"
    if max(rv_5m, rv_30m, -math.inf if iv is None else iv) < limits.calm_below:
        return RegimeCall(Regime.CALM, f"calm: 5-min {rv_5m:.1%} and 30-min {rv_30m:.1%} "
                                       f"realised vol{implied} < {limits.calm_below:.0%}")
    return RegimeCall(Regime.NORMAL, f"normal: 5-min {rv_5m:.1%}, 30-min {rv_30m:.1%} "
                                     f"realised vol{implied}")


@dataclass(frozen=True, slots=True)
class VolSizing:
    """How contracts shrink as vol rises: ``scale = clamp(reference_vol / vol, min_scale, 1)``.

    Attributes
    ----------
    reference_vol:
        The vol (trading time) at and below which the full size is bought (15 %).
    min_scale:
        The smallest scale, however high the vol, and the scale when it is unknown (0.25).
    stressed_scale:
        The most a stressed regime may buy, as a scale (0: nothing; raise it to allow).
    """

    reference_vol: float = 0.15
    min_scale: float = 0.25
    stressed_scale: float = 0.0

    def __post_init__(self) -> None:
        if not self.reference_vol > 0 or not 0 <= self.min_scale <= 1 \
                or not 0 <= self.stressed_scale <= 1:
            raise ValueError("reference_vol > 0, 0 <= min_scale <= 1, 0 <= stressed_scale <= 1")


@dataclass(frozen=True, slots=True)
class ScaledSize:
    """Contracts after vol scaling, the scale used and why."""

    qty: int
    scale: float
    reason: str


def vol_scaled_size(base_qty: int, vol: float | None, regime: Regime,
                    rule: VolSizing | None = None) -> ScaledSize:
    """``base_qty`` scaled down by the vol, floored to whole contracts, never below 0.

    Parameters
    ----------
    base_qty:
        Contracts the budget would buy (:func:`domain.sizing.size`).
    vol:
        The current vol, trading time (the 30-minute realised vol is the steady choice);
        ``None``, non-finite or not positive: unknown, scaled by ``min_scale``.
    regime:
        Halted buys nothing; stressed at most ``stressed_scale``.
    """
    rule = rule or VolSizing()
    if regime is Regime.HALTED:
        return ScaledSize(0, 0.0, "halted: no entries")
    if vol is None or not math.isfinite(vol) or vol <= 0:
        scale, why = rule.min_scale, "vol unknown"
    else:
        scale = min(1.0, max(rule.min_scale, rule.reference_vol / vol))
        why = f"vol {vol:.1%} vs reference {rule.reference_vol:.1%}"
    if regime is Regime.STRESSED and scale > rule.stressed_scale:
        scale, why = rule.stressed_scale, f"stressed (capped at {rule.stressed_scale:g})"
    qty = max(0, math.floor(max(base_qty, 0) * scale + 1e-9))
    return ScaledSize(qty, scale, f"{why}: scale {scale:.2f} x {base_qty} = {qty}")
