"""Black-Scholes for European options (0DTE SPY treated as European), with a skew."""

from __future__ import annotations

import math
from datetime import date

YEAR_US = 365 * 24 * 3600 * 1e6
_MIN_T = 1e-9


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _d1_d2(spot: float, strike: float, t: float, vol: float, rate: float) -> tuple[float, float]:
    sd = vol * math.sqrt(t)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * t) / sd
    return d1, d1 - sd


def bs_price(spot: float, strike: float, t_years: float, vol: float, rate: float,
             option_type: str) -> float:
    """Black-Scholes price; intrinsic value at or after expiry."""
    call = option_type == "call"
    if t_years <= _MIN_T or vol <= 0:
        return max(spot - strike, 0.0) if call else max(strike - spot, 0.0)
    d1, d2 = _d1_d2(spot, strike, t_years, vol, rate)
    disc = math.exp(-rate * t_years)
    if call:
        return spot * _cdf(d1) - strike * disc * _cdf(d2)
    return strike * disc * _cdf(-d2) - spot * _cdf(-d1)


def bs_delta(spot: float, strike: float, t_years: float, vol: float, rate: float,
             option_type: str) -> float:
    """Black-Scholes delta; a step function at expiry."""
    call = option_type == "call"
    if t_years <= _MIN_T or vol <= 0:
        itm = spot > strike if call else spot < strike
        return (1.0 if call else -1.0) if itm else 0.0
    d1, _ = _d1_d2(spot, strike, t_years, vol, rate)
    return _cdf(d1) if call else _cdf(d1) - 1.0


def implied_vol_skew(spot: float, strike: float, base_vol: float, skew: float = 1.5,
                     smile: float = 4.0, floor: float = 0.05) -> float:
    """A downside skew (lower strikes richer) with a small smile, floored."""
    moneyness = math.log(strike / spot)
    return max(floor, base_vol * (1.0 - skew * moneyness + smile * moneyness * moneyness))


def year_fraction_us(from_us: int, to_us: int) -> float:
    """Years between two µs timestamps (365-day year), never negative."""
    return max(to_us - from_us, 0) / YEAR_US


def occ_symbol(underlying: str, expiry: date, option_type: str, strike: float) -> str:
    """OCC-style option symbol as Alpaca writes it, e.g. ``SPY261124C00590000``."""
    kind = "C" if option_type == "call" else "P"
    return f"{underlying}{expiry:%y%m%d}{kind}{round(strike * 1000):08d}"
