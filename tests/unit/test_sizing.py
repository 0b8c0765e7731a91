"""Sizing: a budget divided by one contract's premium, floored and capped."""

from __future__ import annotations

import pytest

from stocktracker.domain.sizing import SizingRule, contract_cost, size

EQUITY = 25_000.0


def test_a_premium_budget_buys_what_it_can_afford() -> None:
    rule = SizingRule(mode="premium", premium_budget=500.0)
    four = size(1.25, EQUITY, rule)
    assert four.qty == 4 and four.ok and four.contract_cost == pytest.approx(125.0)
    assert four.reason == "budget $500.00 / $125.00 per contract = 4"
    assert size(1.26, EQUITY, rule).qty == 3  # 3 × 126 = 378; a 4th would cost 504


def test_the_count_is_floored_without_float_surprises() -> None:
    assert size(0.60, EQUITY, SizingRule(premium_budget=300.0)).qty == 5  # 300 / 60.000000001
    assert size(0.29, EQUITY, SizingRule(premium_budget=87.0, max_contracts_per_order=10)).qty == 3


def test_the_max_per_order_caps_a_cheap_contract() -> None:
    capped = size(0.35, EQUITY, SizingRule(premium_budget=500.0, max_contracts_per_order=5))
    assert capped.qty == 5
    assert capped.reason == ("budget $500.00 / $35.00 per contract = 5 "
                             "(capped from 14 by the max per order)")


def test_a_share_of_equity() -> None:
    rule = SizingRule(mode="equity_pct", equity_pct=0.01)  # $250 of $25,000
    assert size(2.50, EQUITY, rule).qty == 1
    short = size(2.51, EQUITY, rule)
    assert short.qty == 0 and not short.ok
    assert short.reason == "1.00% of equity $25,000.00 = $250.00 cannot buy one contract at $251.00"
    assert size(0.80, 100_000.0, rule).qty == 5  # 1,000 / 80 = 12, capped at 5
    assert size(0.80, -50.0, rule).qty == 0


def test_a_budget_that_cannot_buy_one_contract_says_so() -> None:
    none = size(2.95, EQUITY, SizingRule(premium_budget=250.0))
    assert none.qty == 0 and none.budget == 250.0
    assert none.reason == "budget $250.00 cannot buy one contract at $295.00"


def test_fees_count_in_the_cost_when_asked() -> None:
    assert contract_cost(1.25, 0.65) == pytest.approx(125.65)
    assert size(1.25, EQUITY, SizingRule(premium_budget=500.0, fee_per_contract=0.65)).qty == 3


def test_fixed_contracts_ignore_the_price_but_not_the_cap() -> None:
    assert size(2.90, EQUITY, SizingRule(mode="fixed", contracts=3)).qty == 3
    capped = size(0.40, EQUITY, SizingRule(mode="fixed", contracts=8, max_contracts_per_order=5))
    assert capped.qty == 5 and capped.reason == "fixed 5 (capped from 8 by the max per order)"


def test_no_ask_no_size() -> None:
    empty = size(0.0, EQUITY, SizingRule())
    assert empty.qty == 0 and "no ask" in empty.reason


@pytest.mark.parametrize("knobs", [
    {"mode": "kelly"}, {"contracts": 0}, {"max_contracts_per_order": 0},
    {"premium_budget": 0.0}, {"equity_pct": 1.5}, {"fee_per_contract": -1.0},
])
def test_bad_knobs_are_refused(knobs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SizingRule(**knobs)  # type: ignore[arg-type]
