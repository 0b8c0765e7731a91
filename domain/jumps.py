"""The jump guard: an outsized move of the underlying in the last minute blocks entries
for a while, in event time. Pure: times (µs) are arguments; the guard is an immutable
value with a table record.

Sigma is the 30-minute realised vol (trading time, :mod:`domain.volatility`) measured up
to where the move starts, floored, and scaled to the move's horizon by the square root
of time (the real horizon when a sparse feed has no price a minute back).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass

from stocktracker.domain.volatility import MINUTE_US, TRADING_SECONDS_PER_YEAR, PriceWindow


@dataclass(frozen=True, slots=True)
class JumpLimits:
    """The jump guard's knobs.

    Attributes
    ----------
    sigmas:
        A move over ``lookback_us`` larger than this many sigmas is a jump (5).
    lookback_us:
        The move's horizon (1 minute).
    sigma_window_us:
        Sigma is the realised vol of this window (30 min) ending where the move starts, so
        the jump does not inflate its own yardstick; scaled to ``lookback_us``.
    vol_floor:
        Sigma's annualised vol is at least this (10 %): a quiet spell, or a warm-up with no
        vol yet, does not make every ordinary tick a jump (5 σ at 10 % ≈ 0.16 % a minute).
    block_us:
        Entries are blocked this long (5 minutes of event time) after a jump is seen.
    """

    sigmas: float = 5.0
    lookback_us: int = MINUTE_US
    sigma_window_us: int = 30 * MINUTE_US
    vol_floor: float = 0.10
    block_us: int = 5 * MINUTE_US


def jump_threshold(window: PriceWindow, now_us: int, limits: JumpLimits) -> float:
    """The largest ``|ln(p_now / p_then)|`` over ``lookback_us`` that is not a jump."""
    sigma_end = now_us - limits.lookback_us
    vol = window.realised_vol(limits.sigma_window_us, sigma_end)
    vol = max(vol if vol is not None else 0.0, limits.vol_floor)
    return limits.sigmas * vol * math.sqrt(limits.lookback_us / 1e6 / TRADING_SECONDS_PER_YEAR)


def move_span_us(window: PriceWindow, now_us: int, lookback_us: int) -> int:
    """How far back the price :func:`recent_move` compares with really is: ``lookback_us``
    on a live feed, longer when the feed is sparse (the last sample before the lookback is
    older), at least ``lookback_us``."""
    i = bisect_right(window.times_us, now_us - lookback_us)
    then_us = window.times_us[i - 1] if i else (window.times_us[0] if window.times_us else now_us)
    return max(now_us - then_us, lookback_us)


def recent_move(window: PriceWindow, now_us: int, lookback_us: int) -> float | None:
    """``ln(p_now / p_then)``: the price at ``now_us`` against the one ``lookback_us`` before
    (the oldest kept sample when none is that old); ``None`` with fewer than two samples."""
    now_price = window.price_at(now_us)
    then = window.price_at(now_us - lookback_us)
    if then is None and window.times_us and window.times_us[0] < now_us:
        then = window.prices[0]
    if now_price is None or then is None:
        return None
    return math.log(now_price / then)


@dataclass(frozen=True, slots=True)
class JumpGuard:
    """Blocks entries for a while after an outsized move. Immutable; a table record.

    Attributes
    ----------
    blocked_until_us:
        Entries are blocked while event time is before this (0: never blocked).
    jump_us, move, threshold:
        When the last jump was seen, its log move and the threshold it beat.
    """

    blocked_until_us: int = 0
    jump_us: int | None = None
    move: float = 0.0
    threshold: float = 0.0

    def observe(self, window: PriceWindow, now_us: int,
                limits: JumpLimits | None = None) -> JumpGuard:
        """The guard after looking at ``window`` at ``now_us``.

        A jump blocks until ``now_us + block_us``; while the last minute still shows it,
        each observation pushes the release on (it comes ``block_us`` after the move
        leaves the lookback). No jump: the same guard, which releases by time alone.
        """
        limits = limits or JumpLimits()
        move = recent_move(window, now_us, limits.lookback_us)
        if move is None:
            return self
        # a sparse feed's "minute ago" price is older: the threshold grows with the square
        # root of the real span, so a slow drift across a gap in quotes is not a jump
        span = move_span_us(window, now_us, limits.lookback_us)
        threshold = jump_threshold(window, now_us, limits) * math.sqrt(span / limits.lookback_us)
        if abs(move) <= threshold:
            return self
        until = max(self.blocked_until_us, now_us + limits.block_us)
        return JumpGuard(until, now_us, move, threshold)

    def blocked(self, now_us: int) -> bool:
        """True while entries are blocked at ``now_us``."""
        return now_us < self.blocked_until_us

    def to_record(self) -> dict[str, object]:
        """A plain dict for a table."""
        return {"blocked_until_us": self.blocked_until_us, "jump_us": self.jump_us,
                "move": self.move, "threshold": self.threshold}

    @classmethod
    def from_record(cls, record: Mapping[str, object] | None) -> JumpGuard:
        """The guard from :meth:`to_record`'s dict (``None`` or empty: not blocked).

        Raises
        ------
        ValueError
            When a field has the wrong type (the guard must not silently unblock).
        """
        if not record:
            return cls()
        until, jump_us = record.get("blocked_until_us", 0), record.get("jump_us")
        move, threshold = record.get("move", 0.0), record.get("threshold", 0.0)
        if not isinstance(until, int) or isinstance(until, bool) \
                or not (jump_us is None or (isinstance(jump_us, int) and not isinstance(jump_us, bool))) \
                or not isinstance(move, int | float) or not isinstance(threshold, int | float):
            raise ValueError(f"jump guard: unreadable record {dict(record)!r}"[:200])
        return cls(until, jump_us, float(move), float(threshold))
