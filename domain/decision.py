"""One signal's trading decision: contract, size, limit price and every risk check. Pure.

:func:`decide` is what the execute agent calls with what it read from the tables; it
returns either an order to send or all the reasons it must not be sent. The rules come
from settings once (:func:`rules_from`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.market_hours import Session
from domain.orders import Account
from domain.risk import OrderIntent, RiskLimits, RiskState, check, prune_recent
from domain.strikes import ChainQuote, choose_contract


@dataclass(frozen=True, slots=True)
class TradingRules:
    """Everything the decision needs from settings."""

    order_type: str = "limit"
    contracts_per_signal: int = 1
    strike_offset: int = 0
    max_spread_pct: float = 0.25
    limits: RiskLimits = field(default_factory=RiskLimits)


@dataclass(frozen=True, slots=True)
class Book:
    """What the risk checks need to know of positions and recent orders."""

    position_contracts: int = 0
    total_contracts: int = 0
    position_premium: float = 0.0
    total_premium: float = 0.0
    day_pnl: float = 0.0
    recent_orders_us: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """An order to send, or the reasons not to."""

    reasons: tuple[str, ...] = ()
    symbol: str = ""
    option_type: str | None = None
    strike: float | None = None
    expiry: str | None = None
    qty: int = 0
    limit_price: float | None = None
    sizing: str = ""
    recent_orders_us: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the order may be sent."""
        return not self.reasons


def rules_from(settings: Any) -> TradingRules:
    """Trading rules from the settings tree (``trading`` and ``risk`` sections)."""
    t, r = settings.trading, settings.risk
    return TradingRules(
        order_type=t.order_type, contracts_per_signal=t.contracts_per_signal,
        strike_offset=t.strike_offset, max_spread_pct=t.max_spread_pct,
        limits=RiskLimits(r.max_contracts_per_order, r.max_position_contracts,
                          r.max_total_contracts, r.max_orders_per_minute,
                          r.entry_cutoff_minutes, int(r.max_quote_age_s * 1e6), r.limit_band))


def decide(*, signal: Mapping[str, Any], spot_mid: float | None, chain: Sequence[ChainQuote],
           book: Book, session: Session | None, account: Account, rules: TradingRules,
           control: Mapping[str, Any]) -> Decision:
    """Choose the contract and size for ``signal`` and run every risk check.

    Parameters
    ----------
    signal:
        The Signal record (``ticker``, ``direction``, ``event_time``, ``trace``).
    spot_mid:
        The underlying's mid, or None when no quote is cached.
    chain:
        The cached option quotes of the underlying.
    book:
        Positions, premium, the day's P&L and recent orders (:class:`Book`).
    session:
        The exchange session at the signal's event time (None: closed).
    account:
        Equity and buying power.
    rules:
        From settings.
    control:
        The control state (``paused``, ``killed``).
    """
    now = int(signal["event_time"])
    recent = tuple(prune_recent(book.recent_orders_us, now))
    if spot_mid is None or session is None:
        why = "no quote of the underlying" if spot_mid is None else "market closed"
        return Decision(reasons=(why,), recent_orders_us=recent)
    contract = choose_contract(list(chain), spot_mid, str(signal["direction"]),
                               session.day.isoformat(), rules.strike_offset, rules.max_spread_pct)
    if contract is None:
        return Decision(reasons=("no liquid 0DTE contract in the chain cache",),
                        recent_orders_us=recent)
    qty = rules.contracts_per_signal
    limit = round(contract.ask, 2) if rules.order_type == "limit" else None
    state = RiskState(position_contracts=book.position_contracts,
                      total_contracts=book.total_contracts, recent_orders_us=recent,
                      paused=bool(control.get("paused") or control.get("killed")))
    intent = OrderIntent(str(signal["ticker"]), contract.symbol, qty, limit, contract.bid,
                         contract.ask, contract.quote_us, now)
    verdict = check(intent, state, rules.limits, session)
    return Decision(verdict.reasons, contract.symbol, contract.option_type, contract.strike,
                    contract.expiry, qty, limit, f"fixed {qty}", recent)
