"""Contract choice: expiry, strike by delta or offset, liquidity filters and their reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from stocktracker.domain.contracts import (
    ChainQuote,
    ContractRule,
    choose,
    expiry_close_us,
    implied_vol,
    option_type_for,
    quote_delta,
)
from stocktracker.domain.pricing import (
    bs_price,
    bs_price_delta,
    implied_vol_skew,
    occ_symbol,
    year_fraction_us,
)
from stocktracker.domain.strikes import choose_contract

DAY = date(2026, 11, 24)
NOW = int(datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp() * 1_000_000)  # 10:00 ET
SPOT = 590.0


def quotes(expiry: date, spot: float = SPOT, strikes: range = range(580, 601),
           **fields: object) -> list[ChainQuote]:
    """A chain priced by Black-Scholes with skew, 2¢ either side of the model price."""
    t = year_fraction_us(NOW, expiry_close_us(expiry.isoformat()))
    chain = []
    for strike in strikes:
        iv = implied_vol_skew(spot, strike, 0.15)
        for kind in ("call", "put"):
            price = bs_price(spot, strike, t, iv, 0.04, kind)
            chain.append(ChainQuote(
                occ_symbol("SPY", expiry, kind, strike), kind, float(strike), expiry.isoformat(),
                round(max(price - 0.02, 0.0), 2), round(price + 0.02, 2), NOW - 1_000_000,
                bid_size=20, ask_size=25, iv=iv, open_interest=5_000, volume=1_200))
    return [replace(q, **fields) for q in chain]  # type: ignore[arg-type]


CHAIN = quotes(DAY) + quotes(date(2026, 11, 25))


def test_bullish_buys_the_0dte_call_near_40_delta() -> None:
    choice = choose(CHAIN, SPOT, "bullish", DAY, NOW)
    assert choice.ok and choice.contract is not None
    assert choice.contract.symbol == "SPY261124C00591000" and choice.expiry == "2026-11-24"
    assert choice.delta == pytest.approx(0.335, abs=0.01)
    assert choice.reason == ("call 591 exp 2026-11-24 Δ0.34: the only one within ±0.10 of "
                             "Δ0.40, spread 0.04 (7.8%)")


def test_bearish_buys_the_put_with_a_negative_delta() -> None:
    # the 589 put (Δ-0.33, spread 7.8 %) and the 590 put (Δ-0.50, 4.3 %) are both in the band
    choice = choose(CHAIN, SPOT, "bearish", DAY, NOW)
    assert choice.contract is not None and choice.contract.symbol == "SPY261124P00590000"
    assert choice.delta is not None and -0.50 < choice.delta < -0.45
    assert choice.reason.endswith(": tightest spread 0.04 (4.3%) of 2 within ±0.10 of Δ0.40")


def test_the_choice_is_the_tightest_spread_within_the_band() -> None:
    t = year_fraction_us(NOW, expiry_close_us("2026-11-24"))
    for target in (0.2, 0.3, 0.5, 0.7):
        rule = ContractRule(target_delta=target, delta_tolerance=0.15)
        choice = choose(CHAIN, SPOT, "bullish", DAY, NOW, rule)
        assert choice.contract is not None and choice.delta is not None
        near = [q for q in CHAIN if q.option_type == "call" and q.expiry == "2026-11-24"
                and q.spread_pct <= 0.25
                and abs(bs_price_delta(SPOT, q.strike, t, q.iv or 0, 0.04, "call")[1] - target)
                <= 0.15]
        assert abs(choice.delta - target) <= 0.15
        assert choice.contract.spread_pct == min(q.spread_pct for q in near)


def test_without_iv_the_delta_comes_from_the_mid() -> None:
    no_iv = quotes(DAY, iv=None)
    with_iv = choose(quotes(DAY), SPOT, "bullish", DAY, NOW)
    implied = choose(no_iv, SPOT, "bullish", DAY, NOW)
    assert implied.contract is not None and with_iv.contract is not None
    assert implied.contract.strike == with_iv.contract.strike
    assert implied.delta == pytest.approx(with_iv.delta, abs=0.02)


def test_implied_vol_inverts_black_scholes() -> None:
    t = year_fraction_us(NOW, expiry_close_us("2026-11-24"))
    for strike, kind, vol in ((590, "call", 0.15), (594, "call", 0.22), (585, "put", 0.31)):
        price = bs_price(SPOT, strike, t, vol, 0.04, kind)
        assert implied_vol(price, SPOT, strike, t, 0.04, kind) == pytest.approx(vol, abs=1e-4)
    assert implied_vol(0.0, SPOT, 600, t, 0.04, "call") == pytest.approx(1e-4)  # below intrinsic
    assert implied_vol(9.0, SPOT, 600, 0.0, 0.04, "put") == pytest.approx(1e-4)  # expired


def test_a_delta_the_quote_carries_is_used_unless_told_otherwise() -> None:
    q = replace(quotes(DAY, strikes=range(592, 593))[0], delta=0.41)
    t = year_fraction_us(NOW, expiry_close_us(q.expiry))
    assert quote_delta(q, SPOT, t, ContractRule()) == 0.41
    assert quote_delta(q, SPOT, t, ContractRule(use_quote_delta=False)) == pytest.approx(0.19, abs=0.02)
    choice = choose([q], SPOT, "bullish", DAY, NOW)
    assert choice.contract == q and choice.delta == 0.41


def test_no_same_day_expiry_takes_the_nearest_later_one_when_allowed() -> None:
    weekly = quotes(date(2026, 11, 27)) + quotes(date(2026, 12, 4))
    choice = choose(weekly, SPOT, "bullish", DAY, NOW)
    assert choice.contract is not None and choice.expiry == "2026-11-27"
    refused = choose(weekly, SPOT, "bullish", DAY, NOW, ContractRule(allow_later_expiry=False))
    assert refused.contract is None
    assert refused.reason == ("no call: no expiry on 2026-11-24 (nearest 2026-11-27; later "
                              "expiries not allowed)")
    too_far = choose(quotes(date(2026, 12, 4)), SPOT, "bullish", DAY, NOW,
                     ContractRule(max_days_to_expiry=5))
    assert too_far.reason == "no call: no expiry within 5 days of 2026-11-24 (nearest 2026-12-04)"
    stale = choose(quotes(date(2026, 11, 23)), SPOT, "bullish", DAY, NOW)
    assert stale.reason == "no call: no expiry on or after 2026-11-24"


def test_a_same_day_expiry_that_fails_the_filters_is_not_swapped_for_a_later_one() -> None:
    chain = quotes(DAY, bid=0.0) + quotes(date(2026, 11, 25))
    choice = choose(chain, SPOT, "bullish", DAY, NOW)
    assert choice.contract is None and choice.expiry == "2026-11-24"
    assert choice.removed == (("no bid", 21),)


def test_the_reason_says_which_filter_removed_what() -> None:
    chain = quotes(DAY, strikes=range(586, 592))  # calls 586..591, 4.06 down to 0.51
    calls = [q for q in chain if q.option_type == "call"]
    thin = {586.0: {"bid": 0.0}, 587.0: {"open_interest": 40}, 588.0: {"volume": None},
            589.0: {"bid": 1.20, "ask": 1.90}, 590.0: {"ask": 0.0, "bid": 0.0},
            591.0: {"open_interest": None}}
    broken = [replace(q, **thin[q.strike]) for q in calls]  # type: ignore[arg-type]
    rule = ContractRule(min_open_interest=100, min_volume=10)
    choice = choose(broken, SPOT, "bullish", DAY, NOW, rule)
    assert choice.contract is None
    assert choice.removed == (("crossed or empty quote", 1), ("no bid", 1),
                              ("spread > 25% of mid", 1), ("open interest < 100", 2),
                              ("volume < 10", 1))
    assert choice.reason == (
        "no call within ±0.10 of Δ0.40 with a spread under 25% expiring 2026-11-24 (6 listed; "
        "removed by crossed or empty quote: 1, no bid: 1, spread > 25% of mid: 1, "
        "open interest < 100: 2, volume < 10: 1)")


def test_only_far_deltas_left_means_no_contract() -> None:
    deep = quotes(DAY, strikes=range(580, 585))  # calls 6-10 points in the money
    choice = choose(deep, SPOT, "bullish", DAY, NOW)
    assert choice.contract is None
    assert choice.removed == (("|delta| not within ±0.10 of Δ0.40", 5),)
    assert choice.reason.startswith("no call within ±0.10 of Δ0.40 with a spread under 25% ")
    loose = choose(deep, SPOT, "bullish", DAY, NOW, ContractRule(delta_tolerance=0.6))
    # all five in the band, each 4¢ wide: 580 and 581 tie at 0.4 % of the mid, and 581's
    # |delta| is the nearer to the target
    assert loose.contract is not None and loose.contract.strike == 581.0


def test_offset_mode_counts_strikes_from_atm() -> None:
    def strike(direction: str, offset: int) -> float:
        rule = ContractRule(strike_mode="offset", strike_offset=offset)
        choice = choose(CHAIN, 590.3, direction, DAY, NOW, rule)
        assert choice.contract is not None and choice.delta is None
        return choice.contract.strike

    assert strike("bullish", 0) == 590.0 and strike("bearish", 0) == 590.0
    assert strike("bullish", 2) == 592.0 and strike("bearish", 2) == 588.0  # OTM
    assert strike("bullish", -1) == 589.0 and strike("bearish", -1) == 591.0  # ITM
    assert strike("bullish", 50) == 592.0  # clamped: 593+ have spreads over 25% or no bid


def test_a_half_day_close_shortens_the_time_to_expiry() -> None:
    close_1pm = int(datetime(2026, 11, 24, 18, 0, tzinfo=UTC).timestamp() * 1_000_000)
    rule = ContractRule(target_delta=0.30, use_quote_delta=False)
    full = choose(CHAIN, SPOT, "bullish", DAY, NOW, rule)
    half = choose(CHAIN, SPOT, "bullish", DAY, NOW, rule, close_us=close_1pm)
    assert full.contract is not None and half.contract is not None
    # three hours less: the 591 call's delta falls from 0.34 to about 0.27
    assert full.contract.strike == 591.0 and half.contract.strike == 591.0
    assert full.delta == pytest.approx(0.335, abs=0.01)
    assert half.delta == pytest.approx(0.27, abs=0.01)
    assert not choose(CHAIN, SPOT, "bullish", DAY, NOW, ContractRule(use_quote_delta=False),
                      close_us=close_1pm).ok  # 0.27 and 0.50 are both outside ±0.10 of 0.40
    far = next(q for q in CHAIN if q.symbol == "SPY261124C00591000")
    t_half = year_fraction_us(NOW, close_1pm)
    assert quote_delta(far, SPOT, t_half, ContractRule()) == pytest.approx(0.25, abs=0.03)


def test_quote_from_a_chain_cache_record() -> None:
    record = {"symbol": "SPY261124C00590000", "underlying": "SPY", "bid": 0.91, "ask": 0.95,
              "bid_size": 12, "ask_size": 30, "option_type": "call", "strike": 590,
              "expiry": "2026-11-24", "iv": 0.15, "delta": None, "event_time": NOW}
    q = ChainQuote.from_dict(record)
    assert q.strike == 590.0 and q.quote_us == NOW and q.iv == 0.15 and q.delta is None
    assert q.open_interest is None and q.volume is None and q.ask_size == 30
    assert q.mid == pytest.approx(0.93) and q.spread_pct == pytest.approx(0.04 / 0.93)


def test_the_older_api_still_chooses_by_offset() -> None:
    chosen = choose_contract(CHAIN, 590.3, "bearish", "2026-11-24", 1)
    assert chosen is not None and chosen.symbol == "SPY261124P00589000"
    assert choose_contract(CHAIN, 590.3, "bullish", "2026-11-26") is None


def test_bad_knobs_and_directions_are_refused() -> None:
    with pytest.raises(ValueError, match="strike_mode"):
        ContractRule(strike_mode="gamma")
    with pytest.raises(ValueError, match="target_delta"):
        ContractRule(target_delta=1.2)
    with pytest.raises(ValueError, match="direction"):
        option_type_for("sideways")
