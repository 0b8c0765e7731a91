"""Pre-trade checks on volatility, in :mod:`domain.risk`'s style: each a small named
function returning its reason when it refuses an entry and ``None`` when it lets it
through. Pure: the decision time (µs) is an argument.

Their input is a :class:`VolState`, built from the regime call and the jump guard of the
order's underlying, so that :func:`domain.risk.check` can run :data:`VOL_CHECKS` along
with its own (``event_us`` is the intent's).

The per-underlying state the market agent keeps in the ``volatility`` table (price window,
jump guard, last published regime) is a :class:`VolTrack`; :func:`vol_state_at` reads it
at a signal's event time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from stocktracker.domain.jumps import JumpGuard, JumpLimits
from stocktracker.domain.regime import (
    Regime,
    RegimeCall,
    RegimeLimits,
    VolFigures,
    VolSizing,
    classify,
    measure,
)
from stocktracker.domain.volatility import PriceWindow


@dataclass(frozen=True, slots=True)
class VolState:
    """What the volatility checks need to know of the order's underlying.

    Attributes
    ----------
    regime, regime_reason:
        The regime (:func:`domain.regime.classify`) and its one-line reason.
    blocked_until_us:
        The jump guard's release time, µs (0: not blocked).
    jump_reason:
        What tripped the guard (for the refusal's text).
    allow_stressed, allow_halted:
        The operator's flags: enter even when stressed / halted-like (each lifts its own
        regime only).
    vol:
        The vol that scales the size (trading time; ``None``: still warming up).
    """

    regime: Regime = Regime.NORMAL
    regime_reason: str = ""
    blocked_until_us: int = 0
    jump_reason: str = ""
    allow_stressed: bool = False
    allow_halted: bool = False
    vol: float | None = None


def vol_state(call: RegimeCall, guard: JumpGuard, allow_stressed: bool = False,
              allow_halted: bool = False, vol: float | None = None) -> VolState:
    """The checks' input from a regime call and a jump guard."""
    jump = "" if guard.jump_us is None else \
        f"move {guard.move:+.3%} beat {guard.threshold:.3%} at {guard.jump_us}"
    return VolState(call.regime, call.reason, guard.blocked_until_us, jump,
                    allow_stressed, allow_halted, vol)


VolCheck = Callable[[int, VolState], str | None]


def vol_regime(event_us: int, state: VolState) -> str | None:
    """Refuse an entry in a stressed or halted-like regime unless its flag allows it."""
    refused = (state.regime is Regime.STRESSED and not state.allow_stressed) \
        or (state.regime is Regime.HALTED and not state.allow_halted)
    if refused:
        return f"no entries while {state.regime_reason or state.regime.value}"
    return None


def jump_guard(event_us: int, state: VolState) -> str | None:
    """Refuse an entry before the jump guard's release time."""
    if event_us < state.blocked_until_us:
        left = (state.blocked_until_us - event_us) / 1e6
        detail = f" ({state.jump_reason})" if state.jump_reason else ""
        return f"jump guard: entries blocked for {left:.0f}s more{detail}"
    return None


VOL_CHECKS: tuple[tuple[str, VolCheck], ...] = (
    ("vol_regime", vol_regime), ("jump_guard", jump_guard),
)
"""Every volatility check, by name, in the order :func:`check_vol` runs them."""


def check_vol(event_us: int, state: VolState) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Run every volatility check: ``(reasons, failed check names)``, as
    :class:`domain.risk.RiskVerdict` holds them."""
    reasons: list[str] = []
    failed: list[str] = []
    for name, run in VOL_CHECKS:
        reason = run(event_us, state)
        if reason is not None:
            reasons.append(reason)
            failed.append(name)
    return tuple(reasons), tuple(failed)


@dataclass(frozen=True, slots=True)
class VolRules:
    """The volatility rules from settings (``RISK_VOL_CHECKS``, ``RISK_ALLOW_*``...).

    Attributes
    ----------
    enabled:
        False: no vol check and no vol scaling (the table is still kept).
    allow_stressed, allow_halted:
        Enter even in a stressed / halted-like regime.
    regime, jumps, sizing:
        The regime thresholds, the jump guard's knobs and the size scaling rule.
    """

    enabled: bool = True
    allow_stressed: bool = False
    allow_halted: bool = False
    regime: RegimeLimits = field(default_factory=RegimeLimits)
    jumps: JumpLimits = field(default_factory=JumpLimits)
    sizing: VolSizing = field(default_factory=VolSizing)


@dataclass(frozen=True, slots=True)
class VolTrack:
    """One underlying's record in the ``volatility`` table. Immutable.

    Attributes
    ----------
    window:
        Its recent mids (:class:`~domain.volatility.PriceWindow`).
    guard:
        Its jump guard.
    bid, ask:
        The underlying's quote when the record was last saved (the crossed-quote test).
    regime:
        The regime last published (``""``: none yet).
    iv, iv_us:
        The chain's near-the-money implied vol (calendar convention,
        :func:`domain.chain_iv.near_money_iv`) and when it was measured (µs).
    """

    window: PriceWindow = field(default_factory=PriceWindow)
    guard: JumpGuard = field(default_factory=JumpGuard)
    bid: float | None = None
    ask: float | None = None
    regime: str = ""
    iv: float | None = None
    iv_us: int | None = None

    def observe(self, event_us: int, bid: float, ask: float,
                limits: JumpLimits | None = None) -> VolTrack:
        """The track after one underlying quote: its mid into the window (a crossed or
        one-sided quote adds no price but is remembered), then the jump guard."""
        window = self.window
        if 0 < bid <= ask:
            window = window.update(event_us, (bid + ask) / 2)
        guard = self.guard.observe(window, event_us, limits) if window is not self.window \
            else self.guard
        return VolTrack(window, guard, bid, ask, self.regime, self.iv, self.iv_us)

    def with_iv(self, iv: float | None, at_us: int) -> VolTrack:
        """The track with the chain's implied vol measured at ``at_us`` (``None``, or a
        value that is not finite and positive, keeps the last one)."""
        if iv is None or not math.isfinite(iv) or iv <= 0:
            return self
        return replace(self, iv=float(iv), iv_us=at_us)

    def new_bucket(self, before: VolTrack) -> bool:
        """Whether the newest sample opened a 5 s bucket that ``before`` did not have."""
        bucket, last, then = self.window.step_us, self.window.last_us, before.window.last_us
        return last is not None and (then is None or last // bucket != then // bucket)

    def worth_saving(self, before: VolTrack) -> bool:
        """Whether the change since ``before`` is one to write to the changelogged table:
        a new sample bucket, a new guard, a quote that crossed or uncrossed, a new regime,
        a new implied vol.
        A tick that only replaces the newest bucket's price is not (so the table keeps the
        first tick of each 5 s bucket, and the changelog one write per bucket, not per tick)."""
        return (self.new_bucket(before) or self.guard != before.guard or self.regime != before.regime
                or self.iv_us != before.iv_us
                or _crossed(self.bid, self.ask) != _crossed(before.bid, before.ask))

    def figures(self, now_us: int, iv_max_age_us: int = RegimeLimits().iv_max_age_us
                ) -> VolFigures:
        """What is measured at ``now_us`` (only the samples up to ``now_us`` count, and the
        implied vol only if measured at most ``iv_max_age_us`` before it)."""
        fresh = self.iv_us is not None and 0 <= now_us - self.iv_us <= iv_max_age_us
        return measure(self.window, now_us, self.iv if fresh else None, self.bid, self.ask)

    def call(self, now_us: int, market_open: bool,
             limits: RegimeLimits | None = None) -> RegimeCall:
        """The regime at ``now_us``."""
        limits = limits or RegimeLimits()
        return classify(self.figures(now_us, limits.iv_max_age_us), now_us, market_open, limits)

    def to_record(self) -> dict[str, object]:
        """A plain dict for the table."""
        return {"window": self.window.to_record(), "guard": self.guard.to_record(),
                "bid": self.bid, "ask": self.ask, "regime": self.regime, "iv": self.iv,
                "iv_us": self.iv_us}

    @classmethod
    def from_record(cls, record: Mapping[str, object] | None) -> VolTrack:
        """The track from :meth:`to_record`'s dict (``None`` or empty: nothing seen).

        Raises
        ------
        ValueError
            When a part cannot be read back (the entry is refused, not checked blind).
        """
        if not record:
            return cls()
        window, guard = record.get("window"), record.get("guard")
        bid, ask, regime = record.get("bid"), record.get("ask"), record.get("regime", "")
        if not (window is None or isinstance(window, Mapping)) \
                or not (guard is None or isinstance(guard, Mapping)) \
                or not isinstance(regime, str):
            raise ValueError(f"volatility: unreadable record {dict(record)!r}"[:200])
        iv, iv_us = _number(record.get("iv")), record.get("iv_us")
        if (iv is not None and not 0 < iv < math.inf) \
                or not (iv_us is None or (isinstance(iv_us, int) and not isinstance(iv_us, bool))):
            raise ValueError(f"volatility: unreadable implied vol {iv!r} at {iv_us!r}"[:200])
        return cls(PriceWindow.from_record(window), JumpGuard.from_record(guard),
                   _number(bid), _number(ask), regime, iv, iv_us)


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"volatility: a quote price is not a number: {value!r}"[:200])
    return float(value)


def _crossed(bid: float | None, ask: float | None) -> bool:
    return bid is not None and ask is not None and bid > ask


def sizing_vol(figures: VolFigures) -> float | None:
    """The vol that scales the size: the 30-minute realised vol, else the 5-minute one
    (the steadiest known); ``None`` while warming up."""
    return figures.rv_30m if figures.rv_30m is not None else figures.rv_5m


def vol_state_at(record: Mapping[str, object] | None, now_us: int, market_open: bool,
                 rules: VolRules) -> VolState | None:
    """What the vol checks and the sizing see of an underlying at a signal's ``now_us``.

    ``None`` (nothing checked, nothing scaled) when the rules are off or the underlying
    has no record yet: no underlying quote was ever seen, which says nothing about a halt
    (a venue without an underlying feed must still trade). A jump seen after ``now_us``
    (quotes processed ahead of the signal in a replay) does not block it.

    Raises
    ------
    ValueError
        On a record that cannot be read (:meth:`VolTrack.from_record`).
    """
    if not rules.enabled or not record:
        return None
    track = VolTrack.from_record(record)
    guard = track.guard
    if guard.jump_us is not None and guard.jump_us > now_us:
        guard = JumpGuard()
    figures = track.figures(now_us, rules.regime.iv_max_age_us)
    return vol_state(classify(figures, now_us, market_open, rules.regime), guard,
                     rules.allow_stressed, rules.allow_halted, sizing_vol(figures))


REGIME_VALUES: dict[str, float] = {Regime.CALM: 0.0, Regime.NORMAL: 1.0,
                                   Regime.STRESSED: 2.0, Regime.HALTED: 3.0}
"""The ``vol_regime`` metric's value of each regime."""
