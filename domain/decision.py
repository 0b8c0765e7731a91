"""One signal's trading decision: contract, size, limit price and every risk check. Pure.

:func:`decide` is what the execute agent calls with what it read from the tables; it
returns either an order to send or all the reasons it must not be sent. The rules come
from settings once (:func:`rules_from`); the operator's overrides (``set_limits``) are
applied per decision from the control state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stocktracker.domain.contracts import ChainQuote, ContractRule, choose
from stocktracker.domain.control import ControlState, effective_limits
from stocktracker.domain.exits import ExitRule
from stocktracker.domain.jumps import JumpLimits
from stocktracker.domain.market_hours import Session
from stocktracker.domain.orders import Account, parse_occ
from stocktracker.domain.price_steps import PriceSteps
from stocktracker.domain.regime import Regime, RegimeLimits, VolSizing, vol_scaled_size
from stocktracker.domain.risk import (
    KILLED,
    PAUSED,
    OrderIntent,
    RiskLimits,
    RiskState,
    check,
    parse_hhmm,
    prune_recent,
)
from stocktracker.domain.sizing import SizingRule, size
from stocktracker.domain.vol_risk import VolRules, VolState


@dataclass(frozen=True, slots=True)
class TradingRules:
    """Everything the decision and the exits need from settings."""

    order_type: str = "limit"
    contract: ContractRule = field(default_factory=ContractRule)
    sizing: SizingRule = field(default_factory=SizingRule)
    limits: RiskLimits = field(default_factory=RiskLimits)
    exits: ExitRule = field(default_factory=ExitRule)
    fee_per_contract: float = 0.0
    vol: VolRules = field(default_factory=VolRules)


@dataclass(frozen=True, slots=True)
class Book:
    """What the risk checks need to know of positions, P&L and recent orders."""

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
    contract_reason: str = ""
    recent_orders_us: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the order may be sent."""
        return not self.reasons


def rules_from(settings: Any) -> TradingRules:
    """Trading rules from the settings tree (``trading`` and ``risk`` sections)."""
    t, r = settings.trading, settings.risk
    fee = t.commission if t.broker == "simulated" else 0.0
    return TradingRules(
        order_type=t.order_type,
        contract=ContractRule(strike_mode=t.strike_mode, target_delta=t.target_delta,
                              delta_tolerance=t.delta_band, strike_offset=t.strike_offset,
                              min_open_interest=t.min_open_interest,
                              min_volume=t.min_volume, max_spread_pct=t.max_spread_pct,
                              allow_later_expiry=t.nearest_expiry),
        sizing=SizingRule(mode=t.sizing, contracts=t.contracts_per_signal,
                          premium_budget=t.premium_budget, equity_pct=t.equity_pct,
                          max_contracts_per_order=r.max_contracts_per_order, fee_per_contract=fee),
        limits=RiskLimits(r.max_contracts_per_order, r.max_position_contracts,
                          r.max_total_contracts, r.max_orders_per_minute,
                          r.entry_cutoff_minutes, int(r.max_quote_age_s * 1e6), r.limit_band,
                          parse_hhmm(r.entry_cutoff_et), int(r.max_post_age_s * 1e6),
                          r.max_premium_per_position, r.max_total_premium, r.max_daily_loss),
        exits=ExitRule(profit_target_pct=t.profit_target_pct, stop_loss_pct=t.stop_loss_pct,
                       trailing_stop_pct=t.trailing_stop_pct,
                       time_exit_et=parse_hhmm(t.time_exit_et),
                       entry_timeout_us=int(t.entry_timeout_s * 1e6),
                       reprice_after_us=int(t.exit_reprice_s * 1e6) or None,
                       max_attempts=t.exit_max_attempts),
        fee_per_contract=fee,
        vol=vol_rules_from(r),
    )


def vol_rules_from(r: Any) -> VolRules:
    """The volatility rules from the ``risk`` settings section. Allowing a stressed regime
    lets it buy ``RISK_VOL_MIN_SCALE`` of the size (else nothing)."""
    return VolRules(
        enabled=r.vol_checks, allow_stressed=r.allow_stressed, allow_halted=r.allow_halted,
        regime=RegimeLimits(halt_after_us=int(r.halt_after_s * 1e6)),
        jumps=JumpLimits(sigmas=r.jump_sigma, block_us=int(r.jump_block_s * 1e6)),
        sizing=VolSizing(reference_vol=r.vol_reference, min_scale=r.vol_min_scale,
                         stressed_scale=r.vol_min_scale if r.allow_stressed else 0.0))


def vol_sized(qty: int, vol: VolState | None, rule: VolSizing) -> tuple[int, str]:
    """Contracts after the volatility scaling, and the words for the order's sizing text.

    ``qty * clamp(reference / vol, min_scale, 1)`` floored (:func:`domain.regime.
    vol_scaled_size`, the 30-minute realised vol, else the 5-minute one), but never below
    one contract: refusing an entry is the ``vol_regime`` check's job, with its reason, and
    sizing only shrinks. No vol state (unknown underlying, checks off), or a calm or normal
    regime still warming up: the budget's size as it is.
    """
    if vol is None:
        return qty, ""
    if vol.vol is None and vol.regime in (Regime.CALM, Regime.NORMAL):
        return qty, "; vol: warming up, full size"
    scaled = vol_scaled_size(qty, vol.vol, vol.regime, rule)
    kept = max(scaled.qty, 1)
    return kept, f"; vol: {scaled.reason}" + (" (at least 1)" if kept > scaled.qty else "")


def decide(*, signal: Mapping[str, Any], spot_mid: float | None, chain: Sequence[ChainQuote],
           book: Book, session: Session | None, account: Account, rules: TradingRules,
           control: ControlState, vol: VolState | None = None) -> Decision:
    """Choose the contract and size for ``signal`` and run every risk check.

    Parameters
    ----------
    signal:
        The Signal record (``ticker``, ``direction``, ``event_time``, ``trace``). A trace
        key ``post_age_us`` (stamped by live sources at receipt) feeds the post-age check.
    spot_mid:
        The underlying's mid, or None when no quote is cached.
    chain:
        The cached option quotes of the underlying.
    book:
        Positions, premium, the day's P&L and recent orders (:class:`Book`).
    session:
        The exchange session at the signal's event time (None: closed).
    account:
        Equity and buying power (equity 0: not known yet, the buying-power check skipped).
    rules:
        From settings.
    control:
        The operator's switches and limit overrides.
    vol:
        The underlying's regime, jump guard and vol at the signal's time
        (:func:`domain.vol_risk.vol_state_at`); ``None``: not known, not checked, not scaled.
    """
    now = int(signal["event_time"])
    recent = tuple(prune_recent(book.recent_orders_us, now))
    if spot_mid is None or session is None:
        why = "no quote of the underlying" if spot_mid is None else "market closed"
        return Decision(reasons=(why,), recent_orders_us=recent)
    choice = choose(chain, spot_mid, str(signal["direction"]), session.day, now, rules.contract,
                    close_us=session.close_us)
    if choice.contract is None:
        # the operator's switches are said first: a killed account refuses whatever the chain
        switches = tuple(why for on, why in ((control.killed, KILLED),
                                             (control.paused, PAUSED)) if on)
        return Decision(reasons=(*switches, f"no contract: {choice.reason}"),
                        contract_reason=choice.reason, recent_orders_us=recent)
    contract = choice.contract
    sized = size(contract.ask, account.equity, rules.sizing)
    steps = PriceSteps(parse_occ(contract.symbol).underlying, contract.penny)
    limit = steps.up(contract.ask) if rules.order_type == "limit" else None
    qty = max(sized.qty, 1)  # a budget that buys none is refused below, with its reason
    qty, vol_words = vol_sized(qty, vol, rules.vol.sizing)
    age = signal.get("trace", {}).get("post_age_us")
    intent = OrderIntent(str(signal["ticker"]), contract.symbol, qty, limit, contract.bid,
                         contract.ask, contract.quote_us, now,
                         post_us=now - int(age) if age is not None else None,
                         received_us=now if age is not None else None,
                         expiry=contract.expiry, fees=rules.fee_per_contract * qty)
    state = RiskState(position_contracts=book.position_contracts,
                      total_contracts=book.total_contracts, recent_orders_us=recent,
                      paused=control.paused, killed=control.killed,
                      position_premium=book.position_premium, total_premium=book.total_premium,
                      day_pnl=book.day_pnl,
                      buying_power=account.buying_power if account.equity > 0 else None,
                      vol=vol)
    verdict = check(intent, state, effective_limits(rules.limits, control), session)
    reasons = (() if sized.ok else (f"sizing: {sized.reason}",)) + verdict.reasons
    return Decision(reasons, contract.symbol, contract.option_type, contract.strike,
                    contract.expiry, qty, limit, sized.reason + vol_words, choice.reason, recent)
