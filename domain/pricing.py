"""Black-Scholes for European options (0DTE SPY options are treated as European), a
downside skew for the implied volatility, year fractions and OCC option symbols.

Pure: no I/O, no clock; times come in as µs epoch timestamps. ``math.erfc`` only (no scipy).
"""

from __future__ import annotations

import math
from datetime import date

US_PER_YEAR = 365 * 24 * 3600 * 1_000_000
"""µs in a 365-day year: the year of every year fraction here."""

_SQRT2 = math.sqrt(2.0)
_MIN_SD = 1e-12  # vol * sqrt(t) below this is treated as expiry (no NaN, no overflow)


def _is_call(option_type: str) -> bool:
    if option_type == "call":
        return True
    if option_type == "put":
        return False
    raise ValueError(f"option_type must be 'call' or 'put', not {option_type!r}")


def _check(spot: float, strike: float) -> None:
    if not (spot > 0 and strike > 0):
        raise ValueError(f"spot and strike must be positive (spot={spot}, strike={strike})")


def _cdf(x: float) -> float:
    # erfc keeps the far tails accurate (1 + erf(x) cancels to 0 for very negative x)
    return 0.5 * math.erfc(-x / _SQRT2)


def bs_price_delta(spot: float, strike: float, t_years: float, vol: float, rate: float,
                   option_type: str) -> tuple[float, float]:
    """Black-Scholes price and delta together (one ``d1`` for both).

    At or after expiry (``t_years <= 0``), or when ``vol * sqrt(t)`` is negligible, the
    price is the intrinsic value of the discounted forward and the delta a step: 1 / 0 for
    a call, -1 / 0 for a put, ±0.5 exactly at the money (the limit of the formula).
    """
    call = _is_call(option_type)
    _check(spot, strike)
    t = max(t_years, 0.0)
    disc = math.exp(-rate * t)
    sd = max(vol, 0.0) * math.sqrt(t)
    if sd < _MIN_SD:
        gap = spot - strike * disc  # spot minus the discounted strike
        step = 1.0 if gap > 0 else (0.5 if gap == 0 else 0.0)  # the call's delta
        if call:
            return max(gap, 0.0), step
        return max(-gap, 0.0), step - 1.0
    d1 = (math.log(spot / strike) + rate * t) / sd + 0.5 * sd
    d2 = d1 - sd
    if call:
        price = spot * _cdf(d1) - strike * disc * _cdf(d2)
        return max(price, 0.0), _cdf(d1)
    price = strike * disc * _cdf(-d2) - spot * _cdf(-d1)
    return max(price, 0.0), _cdf(d1) - 1.0


def bs_price(spot: float, strike: float, t_years: float, vol: float, rate: float,
             option_type: str) -> float:
    """Black-Scholes price of a European ``"call"`` or ``"put"`` (no dividends).

    ``t_years <= 0`` gives the intrinsic value; a tiny ``t`` (0DTE at 15:59 is ~2e-6
    years) stays finite and converges to it.
    """
    return bs_price_delta(spot, strike, t_years, vol, rate, option_type)[0]


def bs_delta(spot: float, strike: float, t_years: float, vol: float, rate: float,
             option_type: str) -> float:
    """Black-Scholes delta: in (0, 1) for a call, (-1, 0) for a put; a step at expiry."""
    return bs_price_delta(spot, strike, t_years, vol, rate, option_type)[1]


def implied_vol_skew(spot: float, strike: float, base_vol: float, skew: float = 4.0,
                     smile: float = 40.0, floor: float = 0.25, cap: float = 4.0) -> float:
    """Implied volatility with a downside (put) skew and a small smile.

    With ``m = ln(strike / spot)``: ``base_vol * (1 - skew * m + smile * m**2)``, so lower
    strikes are richer than higher ones, kept within ``[floor, cap] * base_vol``. The defaults
    give about +8% of ``base_vol`` at a strike 1.7% below the spot and -6% 1.7% above.
    """
    _check(spot, strike)
    m = math.log(strike / spot)
    return base_vol * min(cap, max(floor, 1.0 - skew * m + smile * m * m))


def year_fraction_us(from_us: int, to_us: int) -> float:
    """Years (365-day) from ``from_us`` to ``to_us`` (µs epoch), 0.0 when ``to_us`` is past."""
    return max(to_us - from_us, 0) / US_PER_YEAR


def occ_symbol(underlying: str, expiry: date, option_type: str, strike: float) -> str:
    """OCC-style option symbol as Alpaca writes it (root unpadded), e.g.
    ``SPY261124C00590000``: root, ``yymmdd``, ``C``/``P``, strike * 1000 in 8 digits."""
    kind = "C" if _is_call(option_type) else "P"
    mills = round(strike * 1000)
    if not 0 < mills < 100_000_000:
        raise ValueError(f"strike {strike} does not fit an OCC symbol")
    if not underlying or not underlying.isalnum() or len(underlying) > 6:
        raise ValueError(f"bad underlying root {underlying!r}")
    return f"{underlying.upper()}{expiry:%y%m%d}{kind}{mills:08d}"
