"""The LLM's volatility read: what Claude expects of volatility, kept, windowed and compared
with the measured regime. Pure.

Claude answers each post with an expected volatility (``low``, ``normal``, ``high``) and a
90 % interval ``[score_low, score_high]`` around its score. :func:`read_of` takes it from a
post's model answers (into the ``Score`` record); :func:`majority` is a window's read (from
the counts the aggregate keeps); :func:`agreement` compares that read with the regime the
market agent measured for the traded underlying (information only: it never changes whether
a trade is made).

The mapping (:data:`MATCHING_REGIMES`): ``low`` agrees with ``calm``, ``normal`` with
``normal``, ``high`` with ``stressed`` or ``halted``; any other pair disagrees; a missing
side (no LLM read in the window, no clear majority, no measured regime) is ``unknown``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stocktracker.domain.regime import Regime, RegimeLimits
from stocktracker.domain.sentiment import ModelAnswer
from stocktracker.domain.vol_risk import VolTrack

VOL_READS: tuple[str, ...] = ("low", "normal", "high")
"""The expected volatilities an LLM may answer, in rising order."""

MATCHING_REGIMES: dict[str, frozenset[str]] = {
    "low": frozenset({Regime.CALM.value}),
    "normal": frozenset({Regime.NORMAL.value}),
    "high": frozenset({Regime.STRESSED.value, Regime.HALTED.value}),
}
"""Which measured regimes each LLM read agrees with."""

AGREE, DISAGREE, UNKNOWN = "agree", "disagree", "unknown"


@dataclass(frozen=True, slots=True)
class VolRead:
    """One post's volatility read, as the ``Score`` record carries it.

    Attributes
    ----------
    expected:
        ``low``, ``normal`` or ``high``; None when no model gave one.
    low, high:
        The 90 % interval of the score, in [-1, 1], ``low <= high``; None when not given.
    """

    expected: str | None = None
    low: float | None = None
    high: float | None = None

    @property
    def width(self) -> float | None:
        """``high - low`` when both bounds are known."""
        if self.low is None or self.high is None:
            return None
        return self.high - self.low

    def to_record(self) -> dict[str, float | str | None]:
        """The ``Score`` record's fields."""
        return {"expected_volatility": self.expected, "score_low": self.low,
                "score_high": self.high}

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> VolRead:
        """The read of a decoded ``Score`` (a v2 score, without the fields, has none).

        Raises
        ------
        ValueError
            On a word that is not a read, a bound that is not a finite number, or
            ``low > high``.
        """
        expected, low, high = (record.get("expected_volatility"), record.get("score_low"),
                               record.get("score_high"))
        if expected is not None and expected not in VOL_READS:
            raise ValueError(f"expected_volatility {expected!r} is not one of {VOL_READS}")
        for name, bound in (("score_low", low), ("score_high", high)):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)
                                      or not math.isfinite(bound)):
                raise ValueError(f"{name} {bound!r} is not a finite number")
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            raise ValueError(f"score_low {low} is above score_high {high}")
        return cls(expected if isinstance(expected, str) else None,
                   float(low) if isinstance(low, int | float) else None,
                   float(high) if isinstance(high, int | float) else None)


def read_of(answers: Sequence[ModelAnswer]) -> VolRead:
    """The volatility read of a post's answers: the first answer that carries one (Claude's;
    the other models give none, so a revision without Claude's answer has an empty read).

    The answers were validated already (:func:`domain.llm_answer.answer_from`).
    """
    for answer in answers:
        expected = answer.extra.get("expected_volatility")
        if isinstance(expected, str) and expected in VOL_READS:
            low, high = answer.extra.get("score_low"), answer.extra.get("score_high")
            return VolRead(expected, low if isinstance(low, float) else None,
                           high if isinstance(high, float) else None)
    return VolRead()


def majority(counts: Mapping[str, int]) -> str | None:
    """The read most posts in a window gave; None when none gave one or the top is tied
    (a split LLM says nothing about the regime)."""
    ranked = sorted(((counts.get(r, 0), r) for r in VOL_READS), reverse=True)
    (top, read), (second, _) = ranked[0], ranked[1]
    if top <= 0 or top == second:
        return None
    return read


def agreement(llm_read: str | None, regime: str | None) -> str:
    """``agree``, ``disagree`` or ``unknown`` (see :data:`MATCHING_REGIMES`)."""
    if llm_read not in MATCHING_REGIMES or not regime:
        return UNKNOWN
    return AGREE if regime in MATCHING_REGIMES[llm_read] else DISAGREE


def regime_at(record: Mapping[str, object] | None, now_us: int, market_open: bool,
              limits: RegimeLimits | None = None) -> str | None:
    """The measured regime of an underlying at ``now_us`` from its ``volatility`` table
    record (:class:`~domain.vol_risk.VolTrack`); None when it has no record yet.

    Raises
    ------
    ValueError
        On a record that cannot be read back.
    """
    if not record:
        return None
    return VolTrack.from_record(record).call(now_us, market_open, limits).regime.value
