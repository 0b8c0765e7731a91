"""How many contracts to buy: a budget divided by one contract's premium. Pure.

The budget is a fixed number of contracts, a fixed premium in $, or a share of the
account's equity; one contract costs ``ask × 100`` (plus any fee per contract). The count
is floored and capped by the most contracts one order may carry; when the budget cannot
buy one contract the answer is 0 with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MULTIPLIER = 100
"""Shares per equity option contract."""

_EPS = 1e-9  # 500 / (1.25 * 100) must be 4, not 3.9999999


@dataclass(frozen=True, slots=True)
class SizingRule:
    """The knobs of sizing.

    Attributes
    ----------
    mode:
        ``fixed`` (``contracts``), ``premium`` (``premium_budget`` $) or ``equity_pct``
        (``equity_pct`` of the equity, in $).
    contracts:
        Contracts per entry in ``fixed`` mode.
    premium_budget:
        $ per entry in ``premium`` mode.
    equity_pct:
        Share of equity per entry in ``equity_pct`` mode (0.01 = 1 %).
    max_contracts_per_order:
        Cap on the count, whatever the budget.
    fee_per_contract:
        $ added to each contract's cost (0: premium only).
    """

    mode: str = "premium"
    contracts: int = 1
    premium_budget: float = 500.0
    equity_pct: float = 0.01
    max_contracts_per_order: int = 5
    fee_per_contract: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("fixed", "premium", "equity_pct"):
            raise ValueError(f"mode must be fixed, premium or equity_pct, not {self.mode!r}")
        if self.contracts < 1 or self.max_contracts_per_order < 1:
            raise ValueError("contracts and max_contracts_per_order must be at least 1")
        if self.premium_budget <= 0 or not 0 < self.equity_pct <= 1 or self.fee_per_contract < 0:
            raise ValueError("premium_budget > 0, 0 < equity_pct <= 1, fee_per_contract >= 0")


@dataclass(frozen=True, slots=True)
class Size:
    """Contracts to buy and how the number came about."""

    qty: int
    budget: float
    contract_cost: float
    reason: str

    @property
    def ok(self) -> bool:
        """True when at least one contract is to be bought."""
        return self.qty > 0


def contract_cost(ask: float, fee_per_contract: float = 0.0) -> float:
    """$ for one contract at ``ask``: the premium (``ask × 100``) plus the fee."""
    return ask * MULTIPLIER + fee_per_contract


def size(ask: float, equity: float, rule: SizingRule) -> Size:
    """Contracts to buy at ``ask`` with an account of ``equity`` $.

    Parameters
    ----------
    ask:
        The contract's ask, $ per share.
    equity:
        Account equity, $ (used by ``equity_pct`` mode only).
    rule:
        The budget and the cap.
    """
    cost = contract_cost(ask, rule.fee_per_contract)
    if ask <= 0:
        return Size(0, 0.0, cost, f"no ask to size on (ask {ask})")
    if rule.mode == "fixed":
        qty = min(rule.contracts, rule.max_contracts_per_order)
        return Size(qty, qty * cost, cost, f"fixed {qty}" + _capped(rule.contracts, qty))
    if rule.mode == "premium":
        budget, source = rule.premium_budget, f"budget ${rule.premium_budget:,.2f}"
    else:
        budget = max(equity, 0.0) * rule.equity_pct
        source = f"{rule.equity_pct:.2%} of equity ${equity:,.2f} = ${budget:,.2f}"
    affordable = math.floor(budget / cost + _EPS)
    if affordable < 1:
        return Size(0, budget, cost, f"{source} cannot buy one contract at ${cost:,.2f}")
    qty = min(affordable, rule.max_contracts_per_order)
    return Size(qty, budget, cost, f"{source} / ${cost:,.2f} per contract = {qty}"
                + _capped(affordable, qty))


def _capped(wanted: int, qty: int) -> str:
    return f" (capped from {wanted} by the max per order)" if wanted > qty else ""
