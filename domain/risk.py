"""Pre-trade risk checks: every order passes here first. Pure: time is an argument."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.market_hours import Session

MINUTE_US = 60_000_000


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits from settings."""

    max_contracts_per_order: int = 5
    max_position_contracts: int = 10
    max_total_contracts: int = 20
    max_orders_per_minute: int = 6
    entry_cutoff_minutes: int = 30
    max_quote_age_us: int = 30_000_000
    max_limit_band: float = 0.10


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the checks need to know of the book at decision time."""

    position_contracts: int = 0
    total_contracts: int = 0
    recent_orders_us: tuple[int, ...] = ()
    paused: bool = False


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An opening order as the execution stage wants to send it."""

    underlying: str
    symbol: str
    qty: int
    limit_price: float | None
    bid: float
    ask: float
    quote_us: int
    event_us: int


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """``ok`` or the reasons it is not."""

    reasons: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.reasons


def check(
    intent: OrderIntent, state: RiskState, limits: RiskLimits, session: Session | None
) -> RiskVerdict:
    """Run every pre-trade check and return all the reasons that refuse the order."""
    reasons: list[str] = []
    now = intent.event_us
    if state.paused:
        reasons.append("trading is paused")
    if session is None or not session.contains(now):
        reasons.append("market closed")
    elif session.minutes_to_close(now) < limits.entry_cutoff_minutes:
        reasons.append(f"inside the entry cut-off ({limits.entry_cutoff_minutes} min before close)")
    if intent.qty <= 0:
        reasons.append("quantity must be positive")
    if intent.qty > limits.max_contracts_per_order:
        reasons.append(f"qty {intent.qty} > max per order {limits.max_contracts_per_order}")
    if state.position_contracts + intent.qty > limits.max_position_contracts:
        reasons.append(
            f"position {state.position_contracts}+{intent.qty} > max {limits.max_position_contracts}"
        )
    if state.total_contracts + intent.qty > limits.max_total_contracts:
        reasons.append(
            f"total {state.total_contracts}+{intent.qty} > max {limits.max_total_contracts}"
        )
    last_minute = [t for t in state.recent_orders_us if now - MINUTE_US < t <= now]
    if len(last_minute) >= limits.max_orders_per_minute:
        reasons.append(f"circuit breaker: {len(last_minute)} orders in the last minute")
    if abs(now - intent.quote_us) > limits.max_quote_age_us:
        reasons.append(f"stale quote ({abs(now - intent.quote_us) / 1e6:.1f}s old)")
    if intent.bid < 0 or intent.ask <= 0 or intent.ask < intent.bid:
        reasons.append(f"bad quote bid={intent.bid} ask={intent.ask}")
    elif intent.limit_price is not None:
        mid = (intent.bid + intent.ask) / 2
        if abs(intent.limit_price - mid) > limits.max_limit_band * mid + 0.01:
            reasons.append(f"limit {intent.limit_price} outside the band around mid {mid:.2f}")
    return RiskVerdict(tuple(reasons))


def prune_recent(recent_us: tuple[int, ...] | list[int], now_us: int) -> list[int]:
    """Keep the order times of the last minute (the circuit breaker's memory)."""
    return [t for t in recent_us if now_us - MINUTE_US < t <= now_us]
