"""Liquidity first: among the contracts near the target delta, the most liquid. Pure.

:func:`domain.contracts.choose` hands over the contracts that passed its filters (two-sided,
uncrossed, spread under the maximum), each with its delta; :func:`most_liquid` keeps those
whose |delta| is within ``band`` of the target and ranks them, first rule that tells two
apart deciding:

1. the tightest relative spread, ``(ask - bid) / mid``, compared in whole tenths of a
   percent (1.62 % and 1.58 % tie: both are 1.6 %), so that the rules below decide
   between contracts a spread model prices alike;
2. the most volume today (unknown counts as none);
3. the most open interest (unknown counts as none);
4. |delta| closest to the target;
5. the lower strike (only so that the order never depends on the chain's order).

The choice's reason names the rule that decided against the runner-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stocktracker.domain.contracts import ChainQuote

SPREAD_STEP = 0.001
"""Relative spreads are compared in steps of this (0.1 % of the mid)."""


@dataclass(frozen=True, slots=True)
class LiquidChoice:
    """The contract chosen among the near-delta ones, or why there is none.

    Attributes
    ----------
    contract:
        The chosen quote, ``None`` when no contract is near the target delta.
    delta:
        Its delta (signed), ``None`` with no contract.
    reason:
        Why this one (the deciding rule, the candidates counted), or ``""`` with none.
    outside_band:
        Contracts whose |delta| was further than ``band`` from the target.
    """

    contract: ChainQuote | None
    delta: float | None
    reason: str
    outside_band: int


def band_words(target: float, band: float) -> str:
    """``within ±0.10 of Δ0.40``: the words every choice and refusal uses for the band."""
    return f"within ±{band:.2f} of Δ{target:.2f}"


def _key(q: ChainQuote, delta: float, target: float) -> tuple[int, int, int, float, float]:
    return (round(q.spread_pct / SPREAD_STEP), -(q.volume or 0), -(q.open_interest or 0),
            abs(abs(delta) - target), q.strike)


def _spread(q: ChainQuote) -> str:
    return f"spread {q.ask - q.bid:.2f} ({q.spread_pct:.1%})"


def _why(best: tuple[ChainQuote, float], runner_up: tuple[ChainQuote, float],
         target: float) -> str:
    q, delta = best
    spread = _spread(q)
    mine, theirs = _key(q, delta, target), _key(*runner_up, target)
    if mine[0] != theirs[0]:
        return f"tightest {spread}"
    if mine[1] != theirs[1]:
        return f"{spread} tied; most volume {q.volume or 0}"
    if mine[2] != theirs[2]:
        return f"{spread} and volume {q.volume or 0} tied; most open interest {q.open_interest or 0}"
    if mine[3] != theirs[3]:
        return f"{spread}, volume and open interest tied; |delta| {abs(delta):.2f} nearest"
    return f"{spread}, volume, open interest and |delta| tied; lowest strike"


def most_liquid(candidates: Sequence[tuple[ChainQuote, float]], target: float,
                band: float) -> LiquidChoice:
    """The most liquid of ``candidates`` whose |delta| is within ``band`` of ``target``.

    Parameters
    ----------
    candidates:
        ``(quote, delta)`` pairs that passed the quote filters (delta signed).
    target:
        Wanted |delta| (``TRADING_TARGET_DELTA``).
    band:
        Largest distance of |delta| from the target (``TRADING_DELTA_BAND``).

    Returns
    -------
    LiquidChoice
        The choice and its reason, e.g. ``tightest spread 0.02 (1.6%) of 4 within ±0.10
        of Δ0.40``; no contract when none is near enough.
    """
    near = [(q, d) for q, d in candidates if abs(abs(d) - target) <= band + 1e-12]
    outside = len(candidates) - len(near)
    if not near:
        return LiquidChoice(None, None, "", outside)
    ranked = sorted(near, key=lambda c: _key(c[0], c[1], target))
    best, words = ranked[0], band_words(target, band)
    if len(ranked) == 1:
        reason = f"the only one {words}, {_spread(best[0])}"
    else:
        reason = f"{_why(best, ranked[1], target)} of {len(near)} {words}"
    return LiquidChoice(best[0], best[1], reason, outside)
