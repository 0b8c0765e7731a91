"""Choosing the option contract for a signal from the cached chain. Pure: time is an argument.

Expiry: the session's own (0DTE) or, when the underlying lists none that day and the rule
allows it, the nearest later one. Strike: the contract whose |delta| is nearest a target
(the quote's delta, else Black-Scholes from the quote's IV, else from an IV implied from
the mid) and, among those within a band of it, the most liquid (:mod:`domain.liquidity`:
tightest spread, then volume, then open interest); or an offset in strikes from the one
nearest the spot. Before either, filters remove crossed quotes, contracts without a bid,
wide spreads and thin open interest or volume; when nothing is left the choice says which
filter removed how many.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from stocktracker.domain.liquidity import band_words, most_liquid
from stocktracker.domain.pricing import bs_delta, bs_price, year_fraction_us

NEW_YORK = ZoneInfo("America/New_York")
EXPIRY_TIME = time(16, 0)
"""Options stop trading at the close; a full session closes at 16:00 New York."""

_SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True, slots=True)
class ChainQuote:
    """One contract of the chain cache.

    The first seven fields are positional (older callers build it that way); the rest are
    what a chain snapshot may also carry, ``None`` where the source does not say.

    Attributes
    ----------
    symbol:
        OCC option symbol.
    option_type:
        ``call`` or ``put``.
    strike:
        Strike price, $.
    expiry:
        ISO date (``2026-11-24``).
    bid, ask:
        Top of book, $ per share.
    quote_us:
        When the quote was taken, µs since the epoch.
    bid_size, ask_size:
        Contracts at the touch.
    iv:
        Implied volatility (annual, 0.15 = 15 %), if the source gives one.
    delta:
        Delta, if the source gives one.
    open_interest, volume:
        Contracts open, and traded today.
    penny:
        In the penny program (``None``: the source does not say); see
        :mod:`domain.price_steps`.
    """

    symbol: str
    option_type: str
    strike: float
    expiry: str
    bid: float
    ask: float
    quote_us: int
    bid_size: int = 0
    ask_size: int = 0
    iv: float | None = None
    delta: float | None = None
    open_interest: int | None = None
    volume: int | None = None
    penny: bool | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ChainQuote:
        """Build from a chain-cache entry (a Quote record's fields; ``event_time`` is the
        quote time, optional fields may be missing or ``None``)."""
        def opt_float(key: str) -> float | None:
            value = raw.get(key)
            return None if value is None else float(value)

        def opt_int(key: str) -> int | None:
            value = raw.get(key)
            return None if value is None else int(value)

        return cls(raw["symbol"], raw["option_type"], float(raw["strike"]), raw["expiry"],
                   float(raw["bid"]), float(raw["ask"]), int(raw["event_time"]),
                   int(raw.get("bid_size") or 0), int(raw.get("ask_size") or 0),
                   opt_float("iv"), opt_float("delta"), opt_int("open_interest"),
                   opt_int("volume"), raw.get("penny"))

    def to_record(self, underlying: str) -> dict[str, Any]:
        """The ``Quote`` record (``schemas/quote.avsc``) of this entry; ``event_time`` is
        the quote's time, ``trace`` empty."""
        return {
            "symbol": self.symbol, "underlying": underlying, "bid": self.bid, "ask": self.ask,
            "bid_size": self.bid_size, "ask_size": self.ask_size,
            "option_type": self.option_type, "strike": self.strike, "expiry": self.expiry,
            "iv": self.iv, "delta": self.delta, "open_interest": self.open_interest,
            "volume": self.volume, "penny": self.penny, "derived": False,
            "event_time": self.quote_us,
            "trace": {},
        }

    @property
    def mid(self) -> float:
        """Mid price."""
        return (self.bid + self.ask) / 2

    @property
    def spread_pct(self) -> float:
        """Bid-ask spread as a share of the mid (``inf`` without a positive mid)."""
        mid = self.mid
        return (self.ask - self.bid) / mid if mid > 0 else math.inf


@dataclass(frozen=True, slots=True)
class ContractRule:
    """The knobs of contract choice.

    Attributes
    ----------
    strike_mode:
        ``delta`` (the most liquid near ``target_delta``) or ``offset`` (``strike_offset``
        from ATM).
    target_delta:
        Wanted |delta|, 0.40 by default (slightly out of the money).
    delta_tolerance:
        The band: contracts whose |delta| is further than this from the target are not
        taken; among the others the most liquid is (``TRADING_DELTA_BAND``, 0.10).
    strike_offset:
        ``offset`` mode: 0 is the qualifying strike nearest the spot, +n is n qualifying
        strikes out of the money, -n into it (clamped to the strikes there are).
    min_open_interest, min_volume:
        Minimums (0: no filter). A contract whose value is unknown fails a positive one.
    max_spread_pct:
        Widest bid-ask spread allowed, as a share of the mid.
    allow_later_expiry:
        When the underlying has no expiry on the session's day, take the nearest later one.
    max_days_to_expiry:
        ... but not one further than this many calendar days away.
    rate:
        Risk-free rate for Black-Scholes.
    use_quote_delta:
        Trust a delta the quote carries; otherwise always compute it.
    """

    strike_mode: str = "delta"
    target_delta: float = 0.40
    delta_tolerance: float = 0.10
    strike_offset: int = 0
    min_open_interest: int = 0
    min_volume: int = 0
    max_spread_pct: float = 0.25
    allow_later_expiry: bool = True
    max_days_to_expiry: int = 7
    rate: float = 0.04
    use_quote_delta: bool = True

    def __post_init__(self) -> None:
        if self.strike_mode not in ("delta", "offset"):
            raise ValueError(f"strike_mode must be delta or offset, not {self.strike_mode!r}")
        if not 0 < self.target_delta < 1:
            raise ValueError(f"target_delta must be in (0, 1), not {self.target_delta}")
        if self.delta_tolerance <= 0 or self.max_spread_pct <= 0:
            raise ValueError("delta_tolerance and max_spread_pct must be positive")
        if min(self.min_open_interest, self.min_volume, self.max_days_to_expiry) < 0:
            raise ValueError("min_open_interest, min_volume, max_days_to_expiry must be >= 0")


@dataclass(frozen=True, slots=True)
class ContractChoice:
    """The contract chosen, or why there is none.

    Attributes
    ----------
    contract:
        The chosen quote, ``None`` when nothing qualifies.
    expiry:
        The expiry looked at (``None`` when the chain has none usable).
    delta:
        The chosen contract's delta (signed; ``None`` in offset mode when not computed).
    reason:
        Why this contract, or why none: the filters and how many each removed.
    removed:
        ``(filter, count)`` for every filter that removed something, in filter order.
    """

    contract: ChainQuote | None
    expiry: str | None = None
    delta: float | None = None
    reason: str = ""
    removed: tuple[tuple[str, int], ...] = ()

    @property
    def ok(self) -> bool:
        """True when a contract was chosen."""
        return self.contract is not None


def new_york_date(event_us: int) -> date:
    """The New York (exchange) date of an event time, µs since the epoch."""
    return datetime.fromtimestamp(event_us / 1e6, NEW_YORK).date()


def option_type_for(direction: str) -> str:
    """``call`` for a bullish signal, ``put`` for a bearish one."""
    if direction == "bullish":
        return "call"
    if direction == "bearish":
        return "put"
    raise ValueError(f"direction must be bullish or bearish, not {direction!r}")


def expiry_close_us(expiry: str) -> int:
    """16:00 New York on ``expiry`` (ISO date), µs since the epoch."""
    moment = datetime.combine(date.fromisoformat(expiry), EXPIRY_TIME, tzinfo=NEW_YORK)
    return int(moment.timestamp()) * 1_000_000


def implied_vol(price: float, spot: float, strike: float, t_years: float, rate: float,
                option_type: str, lo: float = 1e-4, hi: float = 10.0, tol: float = 1e-6) -> float:
    """Volatility at which Black-Scholes gives ``price``: Newton steps kept inside a
    bisection bracket. A price outside the bracket's prices gives the bracket's end (below
    intrinsic: ``lo``), so a delta can always be computed from the result."""
    if t_years <= 0 or price <= bs_price(spot, strike, t_years, lo, rate, option_type):
        return lo
    if price >= bs_price(spot, strike, t_years, hi, rate, option_type):
        return hi
    sqrt_t = math.sqrt(t_years)
    vol = min(max(math.sqrt(2 * math.pi / t_years) * price / spot, 0.05), 2.0)
    for _ in range(60):
        diff = bs_price(spot, strike, t_years, vol, rate, option_type) - price
        if abs(diff) < tol:
            break
        if diff > 0:
            hi = vol
        else:
            lo = vol
        sd = vol * sqrt_t
        d1 = (math.log(spot / strike) + rate * t_years) / sd + 0.5 * sd
        vega = spot * math.exp(-0.5 * d1 * d1) / _SQRT_2PI * sqrt_t
        step = vol - diff / vega if vega > 1e-12 else lo
        vol = step if lo < step < hi else (lo + hi) / 2
    return vol


def quote_delta(q: ChainQuote, spot: float, t_years: float, rule: ContractRule) -> float:
    """The quote's delta: its own if it has one (and the rule trusts it), else Black-Scholes
    from its IV, else from an IV implied from its mid."""
    if rule.use_quote_delta and q.delta is not None:
        return q.delta
    vol = q.iv if q.iv is not None and q.iv > 0 else implied_vol(
        q.mid, spot, q.strike, t_years, rule.rate, q.option_type)
    return bs_delta(spot, q.strike, t_years, vol, rule.rate, q.option_type)


def _filters(rule: ContractRule) -> list[tuple[str, Callable[[ChainQuote], bool]]]:
    """(label, fails) in the order they are applied; a contract counts at its first failure."""
    found: list[tuple[str, Callable[[ChainQuote], bool]]] = [
        ("crossed or empty quote", lambda q: q.ask <= 0 or q.ask < q.bid),
        ("no bid", lambda q: q.bid <= 0),
        (f"spread > {rule.max_spread_pct:.0%} of mid",
         lambda q: q.ask - q.bid > rule.max_spread_pct * q.mid),
    ]
    if rule.min_open_interest > 0:
        found.append((f"open interest < {rule.min_open_interest}",
                      lambda q: q.open_interest is None or q.open_interest < rule.min_open_interest))
    if rule.min_volume > 0:
        found.append((f"volume < {rule.min_volume}",
                      lambda q: q.volume is None or q.volume < rule.min_volume))
    return found


def _pick_expiry(listed: Sequence[ChainQuote], day: date, rule: ContractRule
                 ) -> tuple[str | None, str]:
    """The expiry to trade and, when there is none, why."""
    today = day.isoformat()
    later = sorted({q.expiry for q in listed if q.expiry > today})
    if any(q.expiry == today for q in listed):
        return today, ""
    if not later:
        return None, f"no expiry on or after {today}"
    if not rule.allow_later_expiry:
        return None, f"no expiry on {today} (nearest {later[0]}; later expiries not allowed)"
    if (date.fromisoformat(later[0]) - day).days > rule.max_days_to_expiry:
        return None, f"no expiry within {rule.max_days_to_expiry} days of {today} (nearest {later[0]})"
    return later[0], ""


def choose(chain: Sequence[ChainQuote], spot: float, direction: str, day: date, now_us: int,
           rule: ContractRule | None = None, close_us: int | None = None) -> ContractChoice:
    """Choose the contract for a ``direction`` signal on the session of ``day``.

    Parameters
    ----------
    chain:
        The cached quotes of one underlying (any expiries, both types).
    spot:
        The underlying's price (mid).
    direction:
        ``bullish`` (buy a call) or ``bearish`` (buy a put).
    day:
        The session's date: its expiry is the 0DTE one.
    now_us:
        Decision time, µs since the epoch (time to expiry for the deltas).
    rule:
        The knobs (:class:`ContractRule`; defaults when ``None``).
    close_us:
        The session's close if it is not 16:00 New York (half days): the 0DTE expiry time.
    """
    rule = rule or ContractRule()
    kind = option_type_for(direction)
    listed = [q for q in chain if q.option_type == kind]
    expiry, why = _pick_expiry(listed, day, rule)
    if expiry is None:
        return ContractChoice(None, None, None, f"no {kind}: {why}")
    left = [q for q in listed if q.expiry == expiry]
    listed_count = len(left)
    removed: list[tuple[str, int]] = []
    for label, fails in _filters(rule):
        kept = [q for q in left if not fails(q)]
        if len(kept) < len(left):
            removed.append((label, len(left) - len(kept)))
        left = kept
    t_years = year_fraction_us(now_us, close_us if close_us is not None and expiry == day.isoformat()
                               else expiry_close_us(expiry))
    if rule.strike_mode == "offset":
        return _by_offset(left, spot, kind, expiry, listed_count, removed, rule)
    return _by_delta(left, spot, t_years, kind, expiry, listed_count, removed, rule)


def _none_left(kind: str, expiry: str, listed: int, removed: list[tuple[str, int]]
               ) -> ContractChoice:
    detail = ", ".join(f"{label}: {n}" for label, n in removed) or "none listed"
    return ContractChoice(None, expiry, None,
                          f"no {kind} expiring {expiry} qualifies ({listed} listed; removed by "
                          f"{detail})", tuple(removed))


def _by_offset(left: list[ChainQuote], spot: float, kind: str, expiry: str, listed: int,
               removed: list[tuple[str, int]], rule: ContractRule) -> ContractChoice:
    if not left:
        return _none_left(kind, expiry, listed, removed)
    left.sort(key=lambda q: q.strike)
    atm = min(range(len(left)), key=lambda i: abs(left[i].strike - spot))
    step = rule.strike_offset if kind == "call" else -rule.strike_offset
    q = left[min(max(atm + step, 0), len(left) - 1)]
    return ContractChoice(q, expiry, None, f"{kind} {q.strike:g} exp {expiry}: offset "
                          f"{rule.strike_offset:+d} from ATM {left[atm].strike:g}", tuple(removed))


def _by_delta(left: list[ChainQuote], spot: float, t_years: float, kind: str, expiry: str,
              listed: int, removed: list[tuple[str, int]], rule: ContractRule) -> ContractChoice:
    band = band_words(rule.target_delta, rule.delta_tolerance)
    liquid = most_liquid([(q, quote_delta(q, spot, t_years, rule)) for q in left],
                         rule.target_delta, rule.delta_tolerance)
    if liquid.contract is None:
        if liquid.outside_band:
            removed.append((f"|delta| not {band}", liquid.outside_band))
        detail = ", ".join(f"{label}: {n}" for label, n in removed) or "none listed"
        return ContractChoice(None, expiry, None,
                              f"no {kind} {band} with a spread under {rule.max_spread_pct:.0%} "
                              f"expiring {expiry} ({listed} listed; removed by {detail})",
                              tuple(removed))
    q = liquid.contract
    return ContractChoice(q, expiry, liquid.delta, f"{kind} {q.strike:g} exp {expiry} Δ"
                          f"{abs(liquid.delta or 0):.2f}: {liquid.reason}", tuple(removed))
