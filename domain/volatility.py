"""Realised volatility of an underlying over event-time windows, and implied volatility
from option mids. Pure: no I/O, no clock; times are µs epoch ints passed in.

Annualisation of realised volatility (trading time)
---------------------------------------------------
Realised variance over a window is the sum of squared log returns between consecutive
samples divided by the time the samples span, in seconds, times the seconds of a
*trading* year, ``TRADING_SECONDS_PER_YEAR = 252 days × 6.5 h × 3600 s``::

    rv = sqrt(sum(ln(p[i] / p[i-1]) ** 2) / span_s * TRADING_SECONDS_PER_YEAR)

Why trading time: intraday returns only accrue while the exchange is open, so a minute of
session is a minute of risk; annualised this way a 5-minute figure is directly comparable
with the familiar close-to-close vol × sqrt(252) (SPY's long-run ~15-20 %). The returns
are not de-meaned: over 1-30 minutes the drift is negligible and de-meaning a handful of
returns biases the estimate low. Dividing by the span (not by a count of returns) copes
with irregular ticks.

Implied volatilities come from :mod:`domain.pricing`, whose year is 365 calendar days
(``US_PER_YEAR``). A 0DTE option's remaining life is all trading time, so its implied vol
converts to the trading-time convention with :func:`calendar_to_trading_vol` (× ~0.43);
the regime compares like with like (:mod:`domain.regime`).

Samples are thinned to the last tick of each ``step_us`` bucket (default 5 s): tick-by-tick
returns are dominated by bid-ask bounce (microstructure noise) and would overstate the
vol; it also bounds the state (30 min / 5 s ≈ 370 samples) for a table record.
"""

from __future__ import annotations

import math
import operator
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeGuard

from stocktracker.domain.pricing import US_PER_YEAR, bs_price, year_fraction_us

MINUTE_US = 60_000_000
TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
"""Seconds the exchange is open in a year (252 sessions of 6.5 h): the realised vol's year."""
CALENDAR_SECONDS_PER_YEAR = US_PER_YEAR / 1_000_000
"""Seconds of :mod:`domain.pricing`'s 365-day year: the implied vols' year."""
WINDOWS_US = (MINUTE_US, 5 * MINUTE_US, 30 * MINUTE_US)
"""The realised-vol windows: 1, 5 and 30 minutes of event time."""

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _good_price(price: object) -> TypeGuard[float]:
    return (isinstance(price, int | float) and not isinstance(price, bool)
            and math.isfinite(price) and price > 0)


def calendar_to_trading_vol(vol: float) -> float:
    """A calendar-year vol (as :mod:`domain.pricing` implies it) in trading-time units.

    Equal variance per second of session: ``vol × sqrt(trading s / calendar s per year)``.
    Right for time that is all session (a 0DTE option's remaining life), not across nights.
    """
    return vol * math.sqrt(TRADING_SECONDS_PER_YEAR / CALENDAR_SECONDS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class PriceWindow:
    """The underlying's recent prices, one per ``step_us`` bucket, within ``horizon_us`` of
    the newest. Immutable: :meth:`update` returns the next state.

    Attributes
    ----------
    times_us, prices:
        Sample times (µs, non-decreasing) and prices (finite, > 0), parallel tuples.
    step_us:
        Bucket width; a sample in the newest sample's bucket replaces it (last tick wins).
    horizon_us:
        Samples older than this before the newest are dropped. The default, 31 minutes, is
        the longest window (30 min) plus the jump guard's minute, so that the guard's
        sigma is measured on the 30 minutes *before* the move it judges.
    """

    times_us: tuple[int, ...] = ()
    prices: tuple[float, ...] = ()
    step_us: int = 5_000_000
    horizon_us: int = 31 * MINUTE_US

    def __post_init__(self) -> None:
        if self.step_us < 1 or self.horizon_us < 1:
            raise ValueError("step_us and horizon_us must be positive")
        if len(self.times_us) != len(self.prices):
            raise ValueError("times_us and prices must have the same length")

    @property
    def last_us(self) -> int | None:
        """Time of the newest sample (``None``: none yet)."""
        return self.times_us[-1] if self.times_us else None

    @property
    def last_price(self) -> float | None:
        """The newest price (``None``: none yet)."""
        return self.prices[-1] if self.prices else None

    def update(self, event_us: int, price: float) -> PriceWindow:
        """The state after one ``(event_us, price)`` sample.

        A sample older than the newest one, or a price that is not a finite positive
        number, is ignored (the same state comes back): it can never turn a vol into NaN.
        """
        if not _good_price(price) or (self.times_us and event_us < self.times_us[-1]):
            return self
        times, prices = list(self.times_us), list(self.prices)
        if times and event_us // self.step_us == times[-1] // self.step_us:
            times.pop()
            prices.pop()
        times.append(event_us)
        prices.append(float(price))
        first = bisect_left(times, event_us - self.horizon_us)
        return PriceWindow(tuple(times[first:]), tuple(prices[first:]), self.step_us,
                           self.horizon_us)

    def price_at(self, ts_us: int) -> float | None:
        """The last price at or before ``ts_us`` (``None``: no sample that old is kept)."""
        i = bisect_right(self.times_us, ts_us)
        return self.prices[i - 1] if i else None

    def realised_vol(self, window_us: int, end_us: int | None = None,
                     min_returns: int = 2) -> float | None:
        """Annualised (trading-time) realised vol of the samples in ``[end - window, end]``.

        Parameters
        ----------
        window_us:
            Window length, µs of event time.
        end_us:
            The window's end (default: the newest sample).
        min_returns:
            Fewer returns than this inside the window gives ``None`` (not enough to say).
        """
        if not self.times_us:
            return None
        end = self.times_us[-1] if end_us is None else end_us
        lo = bisect_left(self.times_us, end - window_us)
        hi = bisect_right(self.times_us, end)
        if hi - lo - 1 < max(min_returns, 1):
            return None
        span_s = (self.times_us[hi - 1] - self.times_us[lo]) / 1e6
        if span_s <= 0:
            return None
        ps = self.prices
        squares = math.fsum(math.log(ps[i] / ps[i - 1]) ** 2 for i in range(lo + 1, hi))
        return math.sqrt(squares / span_s * TRADING_SECONDS_PER_YEAR)

    def to_record(self) -> dict[str, object]:
        """A plain dict of lists for a table (JSON-able)."""
        return {"t": list(self.times_us), "p": list(self.prices), "step_us": self.step_us,
                "horizon_us": self.horizon_us}

    @classmethod
    def from_record(cls, record: Mapping[str, object] | None) -> PriceWindow:
        """The state from :meth:`to_record`'s dict (``None`` or empty: no samples).

        Raises
        ------
        ValueError
            On a record that cannot be read back: lists of unequal length, a time that is
            not whole µs or goes backwards, a price that is not finite and positive.
        """
        if not record:
            return cls()
        times, prices = record.get("t", []), record.get("p", [])
        step, horizon = record.get("step_us", 5_000_000), record.get("horizon_us", 31 * MINUTE_US)
        if not isinstance(times, list | tuple) or not isinstance(prices, list | tuple) \
                or len(times) != len(prices):
            raise ValueError("price window: 't' and 'p' must be lists of equal length")
        # the fast path (what to_record writes: ints and finite positive floats), read on
        # every decision; anything else goes through the checks that name the bad value
        if all(type(v) is int for v in times) and all(type(v) is float for v in prices) \
                and all(0 < v < math.inf for v in prices):
            ts, ps = tuple(times), tuple(prices)
        else:
            ts = tuple(_whole_us(v) for v in times)
            ps = tuple(_price(p) for p in prices)
        if not all(map(operator.le, ts, ts[1:])):
            raise ValueError("price window: times go backwards")
        return cls(ts, ps, _whole_us(step), _whole_us(horizon))


def _whole_us(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or int(value) != value:
        raise ValueError(f"price window: not whole µs: {value!r}"[:200])
    return int(value)


def _price(value: object) -> float:
    if not _good_price(value):
        raise ValueError(f"price window: not a finite positive price: {value!r}"[:200])
    return float(value)


def realised_vols(window: PriceWindow, now_us: int) -> tuple[float | None, ...]:
    """The realised vols over :data:`WINDOWS_US` (1, 5, 30 min) ending at ``now_us``."""
    return tuple(window.realised_vol(w, now_us) for w in WINDOWS_US)


def _vega(spot: float, strike: float, t_years: float, vol: float, rate: float) -> float:
    # dPrice/dvol, the same for a call and a put (pricing.py has no vega to reuse)
    sd = vol * math.sqrt(t_years)
    if sd < 1e-12:
        return 0.0
    d1 = (math.log(spot / strike) + rate * t_years) / sd + 0.5 * sd
    return spot * math.exp(-0.5 * d1 * d1) / _SQRT_2PI * math.sqrt(t_years)


def iv_from_price(price: float, spot: float, strike: float, t_years: float, rate: float,
                  option_type: str, hi: float = 10.0, max_iter: int = 100) -> float | None:
    """The volatility at which Black-Scholes (:func:`domain.pricing.bs_price`) gives ``price``.

    Newton steps kept inside a bisection bracket ``[0, hi]``: a step that leaves the
    bracket is replaced by its midpoint, so it always converges (price is increasing in
    vol). Unlike :func:`domain.contracts.implied_vol`, which clamps so that a delta can
    always be computed, this says when there is no answer.

    Returns
    -------
    float or None
        Annual vol in pricing's calendar convention; ``None`` when ``t_years <= 0``, an
        input is not finite, or ``price`` is at or below the zero-vol value (intrinsic of
        the discounted forward) or above the price at vol ``hi``.
    """
    if not all(math.isfinite(x) for x in (price, spot, strike, t_years, rate)) \
            or t_years <= 0 or spot <= 0 or strike <= 0:
        return None
    if price <= bs_price(spot, strike, t_years, 0.0, rate, option_type) \
            or price > bs_price(spot, strike, t_years, hi, rate, option_type):
        return None
    lo_v, hi_v = 0.0, hi
    vol = min(max(math.sqrt(2 * math.pi / t_years) * price / spot, 1e-3), hi)  # Brenner-Subrahmanyam
    for _ in range(max_iter):
        diff = bs_price(spot, strike, t_years, vol, rate, option_type) - price
        if abs(diff) <= 1e-12 * spot:
            return vol
        if diff > 0:
            hi_v = vol
        else:
            lo_v = vol
        if hi_v - lo_v <= 1e-13:
            break
        vega = _vega(spot, strike, t_years, vol, rate)
        step = vol - diff / vega if vega > 0 else math.nan
        vol = step if lo_v < step < hi_v else 0.5 * (lo_v + hi_v)
    return vol


class QuoteLike(Protocol):
    """What :func:`chain_atm_iv` reads of a contract (:class:`domain.contracts.ChainQuote` fits)."""

    @property
    def option_type(self) -> str: ...
    @property
    def strike(self) -> float: ...
    @property
    def bid(self) -> float: ...
    @property
    def ask(self) -> float: ...


def chain_atm_iv(quotes: Iterable[QuoteLike], spot: float, now_us: int, expiry_us: int,
                 rate: float = 0.04, band: float = 0.01) -> float | None:
    """Near-the-money implied vol of one expiry: the median of the contracts' IVs (the
    feed's, when a quote carries a finite positive ``iv``; else implied from its mid).

    Parameters
    ----------
    quotes:
        Contracts of one expiry, calls and puts.
    spot:
        The underlying's price.
    now_us, expiry_us:
        Decision time and the expiry's close, µs (a 365-day year fraction, as pricing's).
    rate:
        Risk-free rate (the contract rule's default).
    band:
        Contracts with ``|strike / spot - 1| <= band`` count (default 1 %).

    Returns
    -------
    float or None
        Calendar-convention IV; ``None`` when no contract in the band has a two-sided,
        uncrossed quote whose mid gives an IV.
    """
    if not _good_price(spot) or not 0 <= band < 1:
        return None
    t_years = year_fraction_us(now_us, expiry_us)
    if t_years <= 0:
        return None
    ivs: list[float] = []
    for q in quotes:
        if not (_good_price(q.strike) and abs(q.strike / spot - 1.0) <= band):
            continue
        if not (_good_price(q.bid) and _good_price(q.ask) and q.bid <= q.ask):
            continue
        own = getattr(q, "iv", None)
        iv = float(own) if _good_price(own) else iv_from_price(
            0.5 * (q.bid + q.ask), spot, q.strike, t_years, rate, q.option_type)
        if iv is not None:
            ivs.append(iv)
    return statistics.median(ivs) if ivs else None
