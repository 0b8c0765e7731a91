"""Liquidity first: each ordering rule decides its own case, and says so."""

from __future__ import annotations

from dataclasses import replace

from stocktracker.domain.contracts import ChainQuote, ContractRule, choose
from stocktracker.domain.liquidity import most_liquid
from tests.unit.test_contracts import DAY, NOW, SPOT


def contract(strike: float, bid: float, ask: float, delta: float, volume: int | None = 500,
             open_interest: int | None = 2_000) -> ChainQuote:
    return ChainQuote(f"SPY261124C00{int(strike * 1000):06d}", "call", strike, "2026-11-24",
                      bid, ask, NOW - 1_000_000, delta=delta, volume=volume,
                      open_interest=open_interest)


# four calls in the band around 0.40, alike but for what each test changes
# (2¢ wide: 1.98, 2.00, 2.02 and 2.04 % of the mid, all 2.0 % in tenths of a percent)
A = contract(589.0, 1.00, 1.02, 0.45)
B = contract(590.0, 0.99, 1.01, 0.40)
C = contract(591.0, 0.98, 1.00, 0.36)
D = contract(592.0, 0.97, 0.99, 0.33)


def pick(*quotes: ChainQuote, band: float = 0.10) -> tuple[float | None, str]:
    found = most_liquid([(q, q.delta or 0.0) for q in quotes], 0.40, band)
    return (found.contract.strike if found.contract else None), found.reason


def test_the_tightest_relative_spread_wins_over_volume_and_delta() -> None:
    tight = replace(D, bid=0.98, ask=0.99, volume=1)  # 1.0 %: least volume, furthest delta
    strike, reason = pick(A, B, C, tight)
    assert strike == 592.0
    assert reason == "tightest spread 0.01 (1.0%) of 4 within ±0.10 of Δ0.40"


def test_within_a_tenth_of_a_percent_the_spreads_tie_and_volume_decides() -> None:
    busy = replace(D, volume=900)  # the widest by 0.06 % of the mid
    strike, reason = pick(A, B, C, busy)
    assert strike == 592.0
    assert reason == "spread 0.02 (2.0%) tied; most volume 900 of 4 within ±0.10 of Δ0.40"


def test_with_spread_and_volume_tied_open_interest_decides() -> None:
    held = replace(A, open_interest=9_000)
    strike, reason = pick(held, B, C)
    assert strike == 589.0
    assert reason.endswith("volume 500 tied; most open interest 9000 of 3 within ±0.10 of Δ0.40")


def test_unknown_volume_or_open_interest_counts_as_none() -> None:
    assert pick(replace(A, volume=None), replace(B, volume=1))[0] == 590.0
    assert pick(replace(A, open_interest=None), replace(B, open_interest=1))[0] == 590.0


def test_when_liquidity_ties_the_delta_nearest_the_target_decides() -> None:
    strike, reason = pick(A, B, C)  # same spread %, volume and open interest
    assert strike == 590.0
    assert reason.endswith("volume and open interest tied; |delta| 0.40 nearest of 3 "
                           "within ±0.10 of Δ0.40")


def test_a_full_tie_takes_the_lower_strike_whatever_the_order() -> None:
    twin = replace(C, strike=588.0, symbol="SPY261124C00588000")
    assert pick(C, twin)[0] == pick(twin, C)[0] == 588.0
    assert pick(C, twin)[1].endswith("|delta| tied; lowest strike of 2 within ±0.10 of Δ0.40")


def test_only_the_band_counts() -> None:
    wide = contract(585.0, 4.99, 5.00, 0.80)  # by far the tightest spread, but Δ0.80
    assert pick(wide, C)[0] == 591.0
    assert pick(wide, C, band=0.45)[0] == 585.0
    found = most_liquid([(wide, 0.80)], 0.40, 0.10)
    assert found.contract is None and found.outside_band == 1


def test_puts_are_banded_on_the_size_of_their_delta() -> None:
    put = replace(B, option_type="put", symbol="SPY261124P00590000", delta=-0.42)
    assert pick(put)[0] == 590.0


def test_crossed_zero_and_wide_quotes_are_excluded_with_their_reason() -> None:
    crossed = replace(A, bid=1.05, ask=1.02)
    zero = replace(B, bid=0.0, ask=0.0)
    wide = replace(C, bid=0.80, ask=1.20)  # 40 % of the mid
    choice = choose([crossed, zero, wide, D], SPOT, "bullish", DAY, NOW,
                    ContractRule(max_spread_pct=0.10))
    assert choice.contract == D
    assert choice.removed == (("crossed or empty quote", 2), ("spread > 10% of mid", 1))
    refused = choose([crossed, zero, wide], SPOT, "bullish", DAY, NOW,
                     ContractRule(max_spread_pct=0.10))
    assert refused.contract is None
    assert refused.reason == (
        "no call within ±0.10 of Δ0.40 with a spread under 10% expiring 2026-11-24 (3 listed; "
        "removed by crossed or empty quote: 2, spread > 10% of mid: 1)")
