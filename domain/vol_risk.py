"""Pre-trade checks on volatility, in :mod:`domain.risk`'s style: each a small named
function returning its reason when it refuses an entry and ``None`` when it lets it
through. Pure: the decision time (µs) is an argument.

Their input is a :class:`VolState`, built from the regime call and the jump guard of the
order's underlying, so that :func:`domain.risk.check` can run :data:`VOL_CHECKS` along
with its own (``event_us`` is the intent's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stocktracker.domain.jumps import JumpGuard
from stocktracker.domain.regime import Regime, RegimeCall


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
    """

    regime: Regime = Regime.NORMAL
    regime_reason: str = ""
    blocked_until_us: int = 0
    jump_reason: str = ""
    allow_stressed: bool = False
    allow_halted: bool = False


def vol_state(call: RegimeCall, guard: JumpGuard, allow_stressed: bool = False,
              allow_halted: bool = False) -> VolState:
    """The checks' input from a regime call and a jump guard."""
    jump = "" if guard.jump_us is None else \
        f"move {guard.move:+.3%} beat {guard.threshold:.3%} at {guard.jump_us}"
    return VolState(call.regime, call.reason, guard.blocked_until_us, jump,
                    allow_stressed, allow_halted)


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
