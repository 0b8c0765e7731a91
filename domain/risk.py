"""Pre-trade risk checks: every opening order passes here first. Pure: time is an argument.

Each check is a small function that returns its reason when it refuses the order and
``None`` when it lets it through; :func:`check` runs them all and returns every reason, so
a refused order says everything that is wrong with it. The intent's ``event_us`` is the
decision time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from stocktracker.domain.market_hours import Session
from stocktracker.domain.vol_risk import VolState, check_vol

MINUTE_US = 60_000_000
MULTIPLIER = 100
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits from settings (or the operator's ``set_limits`` overrides).

    Attributes
    ----------
    max_contracts_per_order, max_position_contracts, max_total_contracts:
        Contracts in one order, in one underlying after the order, across all after it.
    max_orders_per_minute:
        Circuit breaker: opening orders in the last 60 s before this one is refused.
    entry_cutoff_minutes:
        No entries this many minutes before the session's close (any expiry, half days too).
    max_quote_age_us:
        The contract's quote may be at most this old (µs) at decision time.
    max_limit_band:
        The limit price must be within this share of the mid (plus a cent) of the mid.
    entry_cutoff_et:
        No new 0DTE entries at or after this New York time of day (``None``: no such rule).
    max_post_age_us:
        No trade on a post that was older than this (µs) when it was received.
    max_premium_per_position, max_total_premium:
        $ of premium in one underlying, and across all, after the order.
    max_daily_loss:
        $; once the day's P&L (realised + unrealised) is at or below ``-max_daily_loss``
        no more entries that day.
    """

    max_contracts_per_order: int = 5
    max_position_contracts: int = 10
    max_total_contracts: int = 20
    max_orders_per_minute: int = 6
    entry_cutoff_minutes: int = 30
    max_quote_age_us: int = 30_000_000
    max_limit_band: float = 0.10
    entry_cutoff_et: time | None = time(15, 0)
    max_post_age_us: int = 30_000_000
    max_premium_per_position: float = 2_000.0
    max_total_premium: float = 5_000.0
    max_daily_loss: float = 1_000.0


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the checks need to know of the book and the switches at decision time.

    Attributes
    ----------
    position_contracts, total_contracts:
        Open contracts in the order's underlying, and in all.
    recent_orders_us:
        Times of the recent opening orders (the circuit breaker's memory).
    paused, killed:
        The operator's switches (:mod:`domain.control`).
    position_premium, total_premium:
        $ of premium open in the underlying, and in all (cost basis).
    day_pnl:
        The day's realised + unrealised P&L, $.
    buying_power:
        The account's buying power, $ (``None``: unknown, not checked).
    vol:
        The underlying's volatility regime and jump guard
        (:func:`domain.vol_risk.vol_state_at`); ``None``: not known or the vol checks are
        off, and :data:`domain.vol_risk.VOL_CHECKS` are not run.
    """

    position_contracts: int = 0
    total_contracts: int = 0
    recent_orders_us: tuple[int, ...] = ()
    paused: bool = False
    position_premium: float = 0.0
    total_premium: float = 0.0
    day_pnl: float = 0.0
    buying_power: float | None = None
    killed: bool = False
    vol: VolState | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An opening (buy) order as the execution stage wants to send it.

    Attributes
    ----------
    underlying, symbol:
        Ticker and OCC option symbol.
    qty:
        Contracts.
    limit_price:
        $ per share; ``None`` for a market order (then the ask prices it).
    bid, ask, quote_us:
        The contract's quote and its time.
    event_us:
        Decision time, µs since the epoch.
    post_us, received_us:
        The triggering post's event time and when we received it (``None``: not checked).
    expiry:
        The contract's ISO expiry (``None`` counts as 0DTE).
    fees:
        Estimated commission and fees of the order, $.
    """

    underlying: str
    symbol: str
    qty: int
    limit_price: float | None
    bid: float
    ask: float
    quote_us: int
    event_us: int
    post_us: int | None = None
    received_us: int | None = None
    expiry: str | None = None
    fees: float = 0.0

    @property
    def premium(self) -> float:
        """$ the order pays at its limit (or the ask for a market order), fees excluded."""
        price = self.limit_price if self.limit_price is not None else self.ask
        return max(self.qty, 0) * price * MULTIPLIER


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """``ok``, or the reasons it is not and the names of the checks that gave them."""

    reasons: tuple[str, ...] = field(default=())
    failed: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.reasons


Check = Callable[[OrderIntent, RiskState, RiskLimits, Session | None], str | None]


def ny_clock(ts_us: int) -> time:
    """New York wall-clock time of day at ``ts_us``."""
    return datetime.fromtimestamp(ts_us / 1e6, tz=NEW_YORK).time()


def ny_us(day: date, at: time) -> int:
    """µs since the epoch of the New York time ``at`` on ``day``."""
    return int(datetime.combine(day, at, tzinfo=NEW_YORK).timestamp() * 1_000_000)


def parse_hhmm(text: str) -> time:
    """``"15:00"`` → ``time(15, 0)``; raises ValueError naming the bad text."""
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"expected a time of day HH:MM, not {text!r}") from None


def _is_open(intent: OrderIntent, session: Session | None) -> bool:
    return session is not None and session.contains(intent.event_us)


PAUSED, KILLED = "trading is paused", "kill switch is on"  # the switches' refusals


def paused(intent: OrderIntent, state: RiskState, limits: RiskLimits,
           session: Session | None) -> str | None:
    """Refuse while the operator has paused trading."""
    return PAUSED if state.paused else None


def killed(intent: OrderIntent, state: RiskState, limits: RiskLimits,
           session: Session | None) -> str | None:
    """Refuse while the kill switch is on (until ``resume``)."""
    return KILLED if state.killed else None


def market_open(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                session: Session | None) -> str | None:
    """Refuse outside the exchange session (holidays, weekends, after a half day's close)."""
    return None if _is_open(intent, session) else "market closed"


def entry_cutoff_time(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                      session: Session | None) -> str | None:
    """Refuse a new 0DTE entry at or after the New York cut-off time (only while open)."""
    cutoff = limits.entry_cutoff_et
    if cutoff is None or session is None or not _is_open(intent, session):
        return None
    if intent.expiry is not None and intent.expiry != session.day.isoformat():
        return None
    if ny_clock(intent.event_us) >= cutoff:
        return f"no new 0DTE entries after the {cutoff:%H:%M} ET cut-off"
    return None


def entry_cutoff_before_close(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                              session: Session | None) -> str | None:
    """Refuse any entry within ``entry_cutoff_minutes`` of the close (only while open)."""
    if session is None or not _is_open(intent, session):
        return None
    if session.minutes_to_close(intent.event_us) < limits.entry_cutoff_minutes:
        return f"inside the entry cut-off ({limits.entry_cutoff_minutes} min before close)"
    return None


def positive_qty(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                 session: Session | None) -> str | None:
    """Refuse an order for no contracts."""
    return None if intent.qty > 0 else "quantity must be positive"


def max_per_order(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                  session: Session | None) -> str | None:
    """Refuse more contracts in one order than allowed."""
    if intent.qty > limits.max_contracts_per_order:
        return f"qty {intent.qty} > max per order {limits.max_contracts_per_order}"
    return None


def max_position_contracts(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                           session: Session | None) -> str | None:
    """Refuse when the underlying's contracts would exceed the limit."""
    after = state.position_contracts + intent.qty
    if after > limits.max_position_contracts:
        return (f"position {state.position_contracts}+{intent.qty} contracts > max "
                f"{limits.max_position_contracts}")
    return None


def max_total_contracts(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                        session: Session | None) -> str | None:
    """Refuse when all open contracts would exceed the limit."""
    if state.total_contracts + intent.qty > limits.max_total_contracts:
        return (f"total {state.total_contracts}+{intent.qty} contracts > max "
                f"{limits.max_total_contracts}")
    return None


def max_position_premium(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                         session: Session | None) -> str | None:
    """Refuse when the underlying's premium would exceed the limit."""
    after = state.position_premium + intent.premium
    if after > limits.max_premium_per_position + 1e-9:
        return (f"position premium ${state.position_premium:,.2f}+${intent.premium:,.2f} > max "
                f"${limits.max_premium_per_position:,.2f}")
    return None


def max_total_premium(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                      session: Session | None) -> str | None:
    """Refuse when the premium across all positions would exceed the limit."""
    if state.total_premium + intent.premium > limits.max_total_premium + 1e-9:
        return (f"total premium ${state.total_premium:,.2f}+${intent.premium:,.2f} > max "
                f"${limits.max_total_premium:,.2f}")
    return None


def daily_loss(intent: OrderIntent, state: RiskState, limits: RiskLimits,
               session: Session | None) -> str | None:
    """Refuse for the rest of the day once the day's P&L reaches ``-max_daily_loss``."""
    if state.day_pnl <= -limits.max_daily_loss:
        return (f"daily loss limit: day P&L ${state.day_pnl:,.2f} <= -${limits.max_daily_loss:,.2f}, "
                "no more entries today")
    return None


def circuit_breaker(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                    session: Session | None) -> str | None:
    """Refuse when the last minute already saw ``max_orders_per_minute`` orders."""
    now = intent.event_us
    count = sum(1 for t in state.recent_orders_us if now - MINUTE_US < t <= now)
    if count >= limits.max_orders_per_minute:
        return f"circuit breaker: {count} orders in the last minute (max {limits.max_orders_per_minute})"
    return None


def stale_quote(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                session: Session | None) -> str | None:
    """Refuse on a quote further than ``max_quote_age_us`` from the decision time."""
    age = abs(intent.event_us - intent.quote_us)
    if age > limits.max_quote_age_us:
        return f"stale quote ({age / 1e6:.1f}s old, max {limits.max_quote_age_us / 1e6:g}s)"
    return None


def stale_post(intent: OrderIntent, state: RiskState, limits: RiskLimits,
               session: Session | None) -> str | None:
    """Refuse to trade on a post that was already old when we received it."""
    if intent.post_us is None or intent.received_us is None:
        return None
    age = intent.received_us - intent.post_us
    if age > limits.max_post_age_us:
        return f"post too old: {age / 1e6:.1f}s at receipt (max {limits.max_post_age_us / 1e6:g}s)"
    return None


def _bad_quote(intent: OrderIntent) -> bool:
    return intent.bid < 0 or intent.ask <= 0 or intent.ask < intent.bid


def sane_quote(intent: OrderIntent, state: RiskState, limits: RiskLimits,
               session: Session | None) -> str | None:
    """Refuse on a crossed, negative or empty quote."""
    return f"bad quote bid={intent.bid} ask={intent.ask}" if _bad_quote(intent) else None


def limit_band(intent: OrderIntent, state: RiskState, limits: RiskLimits,
               session: Session | None) -> str | None:
    """Refuse a limit price further than ``max_limit_band`` × mid (+ 1¢) from the mid."""
    if intent.limit_price is None or _bad_quote(intent):
        return None
    mid = (intent.bid + intent.ask) / 2
    if abs(intent.limit_price - mid) > limits.max_limit_band * mid + 0.01 + 1e-9:
        return f"limit {intent.limit_price} outside the band around mid {mid:.2f}"
    return None


def buying_power(intent: OrderIntent, state: RiskState, limits: RiskLimits,
                 session: Session | None) -> str | None:
    """Refuse when premium + fees exceed the buying power (when it is known)."""
    if state.buying_power is None:
        return None
    cost = intent.premium + intent.fees
    if cost > state.buying_power + 1e-9:
        return f"premium + fees ${cost:,.2f} > buying power ${state.buying_power:,.2f}"
    return None


CHECKS: tuple[tuple[str, Check], ...] = (
    ("paused", paused), ("killed", killed), ("market_open", market_open),
    ("entry_cutoff_time", entry_cutoff_time),
    ("entry_cutoff_before_close", entry_cutoff_before_close),
    ("positive_qty", positive_qty), ("max_per_order", max_per_order),
    ("max_position_contracts", max_position_contracts),
    ("max_total_contracts", max_total_contracts),
    ("max_position_premium", max_position_premium), ("max_total_premium", max_total_premium),
    ("daily_loss", daily_loss), ("circuit_breaker", circuit_breaker),
    ("stale_quote", stale_quote), ("stale_post", stale_post), ("sane_quote", sane_quote),
    ("limit_band", limit_band), ("buying_power", buying_power),
)
"""Every check, by name, in the order :func:`check` runs them."""


def check(
    intent: OrderIntent, state: RiskState, limits: RiskLimits, session: Session | None
) -> RiskVerdict:
    """Run every pre-trade check, then the volatility checks when ``state.vol`` is known
    (:data:`domain.vol_risk.VOL_CHECKS`), and return all the reasons that refuse the order."""
    reasons: list[str] = []
    failed: list[str] = []
    for name, run in CHECKS:
        reason = run(intent, state, limits, session)
        if reason is not None:
            reasons.append(reason)
            failed.append(name)
    if state.vol is not None:
        vol_reasons, vol_failed = check_vol(intent.event_us, state.vol)
        reasons.extend(vol_reasons)
        failed.extend(vol_failed)
    return RiskVerdict(tuple(reasons), tuple(failed))


def prune_recent(recent_us: tuple[int, ...] | list[int], now_us: int) -> list[int]:
    """Keep the order times of the last minute (the circuit breaker's memory)."""
    return [t for t in recent_us if now_us - MINUTE_US < t <= now_us]


@dataclass(frozen=True, slots=True)
class RiskMemory:
    """What the risk checks remember between orders of one underlying (the ``risk_state``
    table, on the owner's partition): the times of its recent opening orders, µs, for the
    circuit breaker. Parsed once where it is read (:meth:`from_record`)."""

    recent_orders_us: tuple[int, ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, object] | None) -> RiskMemory:
        """The memory from its table record (None or empty: nothing remembered).

        Raises
        ------
        ValueError
            When a remembered time is not a whole number of µs: the entry is refused
            (dead-lettered with the reason) rather than checked against a memory that
            cannot be read.
        """
        if not record:
            return cls()
        raw = record.get("recent") or ()
        if not isinstance(raw, list | tuple):
            raise ValueError(f"risk state: 'recent' is not a list: {raw!r}"[:200])
        times: list[int] = []
        for value in raw:
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or int(value) != value:
                raise ValueError(f"risk state: an order time is not µs: {value!r}"[:200])
            times.append(int(value))
        return cls(tuple(times))

    def to_record(self) -> dict[str, object]:
        """The table record (the key ``recent`` is what older changelogs hold too)."""
        return {"recent": list(self.recent_orders_us)}
