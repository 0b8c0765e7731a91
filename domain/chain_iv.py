"""The near-the-money implied vol of an underlying's cached chain, as its regime reads it.
Pure: the time is an argument.

The market agent calls :func:`near_money_iv` once per 5-second bucket of the underlying's
quotes (when its ``volatility`` record is written anyway) and keeps the figure in the
record (:meth:`domain.vol_risk.VolTrack.with_iv`); :func:`domain.regime.classify` then
compares it, in trading time, with ``stressed_iv`` and ``calm_below``.
"""

from __future__ import annotations

from collections.abc import Iterable

from stocktracker.domain.contracts import ChainQuote, expiry_close_us, new_york_date
from stocktracker.domain.volatility import chain_atm_iv

NEAR_MONEY_BAND = 0.01
"""Contracts with ``|strike / spot - 1|`` at most this (1 %) count."""
MAX_QUOTE_AGE_US = 60_000_000
"""Option quotes older than this (60 s) at the measuring time are left out."""


def near_money_iv(chain: Iterable[ChainQuote], spot: float, now_us: int,
                  close_us: int | None = None, rate: float = 0.04,
                  band: float = NEAR_MONEY_BAND) -> float | None:
    """The median implied vol of the nearest expiry's near-the-money contracts.

    Parameters
    ----------
    chain:
        The underlying's cached option quotes (any expiries, calls and puts).
    spot:
        The underlying's mid.
    now_us:
        Measuring time, µs: quotes later than it, or older than :data:`MAX_QUOTE_AGE_US`,
        and expiries before its New York date are left out.
    close_us:
        Today's close when it is not 16:00 New York (a half day): the 0DTE expiry time.
    rate, band:
        Risk-free rate, and the near-the-money band (a share of the spot).

    Returns
    -------
    float or None
        Calendar-convention IV (:func:`domain.volatility.chain_atm_iv`: each contract's
        feed IV when it has one, else implied from its mid); ``None`` when no fresh,
        two-sided quote near the money gives one.
    """
    today = new_york_date(now_us).isoformat()
    fresh = [q for q in chain if q.expiry >= today and 0 <= now_us - q.quote_us <= MAX_QUOTE_AGE_US]
    if not fresh:
        return None
    expiry = min(q.expiry for q in fresh)
    expiry_us = close_us if close_us is not None and expiry == today else expiry_close_us(expiry)
    return chain_atm_iv([q for q in fresh if q.expiry == expiry], spot, now_us, expiry_us,
                        rate, band)
