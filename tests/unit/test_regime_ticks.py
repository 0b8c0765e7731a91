"""The regime beyond the underlying's own quotes: silence turns it halted-like on the owner's
clock tick (and the entry is refused), quotes bring it back; the chain's near-the-money
implied vol is kept in the volatility record and read by the regime."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from stocktracker.domain.chain_iv import near_money_iv
from stocktracker.domain.contracts import ChainQuote, expiry_close_us
from stocktracker.domain.pricing import bs_price, year_fraction_us
from stocktracker.domain.regime import Regime, RegimeLimits, VolFigures, classify
from stocktracker.domain.vol_risk import VolRules, VolTrack, vol_state_at
from stocktracker.domain.volatility import calendar_to_trading_vol
from stocktracker.streams.samples import at, chain
from tests.unit.test_vol_checks import T, handler, quotes, simulation

S = 1_000_000
TO_TRADING = math.sqrt(252 * 6.5 * 3600 / (365 * 86400))  # 0.4324


def regimes(sim: Any) -> list[tuple[str, int]]:
    return [(m["labels"]["regime"], m["event_time"]) for m in sim.outcome.records["metrics"]
            if m["name"] == "vol_regime"]


async def tick(sim: Any, event_us: int) -> None:
    await handler(sim, "ticks", "regime-timer")({"source": "simulated", "event_time": event_us,
                                                 "trace": {}}, 0)


async def signal(sim: Any, n: int, event_us: int) -> dict[str, Any]:
    await handler(sim, "signals", "execute")({
        "id": f"SPY:bullish:{n}", "ticker": "SPY", "direction": "bullish",
        "event_time": event_us, "score": 0.8, "trace": {}}, 0)
    [order] = [o for o in sim.tables.orders.values() if o["signal_id"] == f"SPY:bullish:{n}"]
    return dict(order)  # as the execute agent stored it (a sent one before the broker's answer)


async def test_silence_turns_the_regime_halted_on_the_tick_and_quotes_bring_it_back() -> None:
    sim = simulation()
    await quotes(sim, T, 590.0)
    await quotes(sim, T + 5 * S, 590.1)  # the last quote for a while
    await tick(sim, T + 30 * S)  # 25 s of silence: not yet
    assert regimes(sim) == [("normal", T)]
    await tick(sim, T + 36 * S)
    await tick(sim, T + 36 * S)  # a tick delivered twice publishes once
    await tick(sim, T + 37 * S)
    assert regimes(sim) == [("normal", T), ("halted", T + 36 * S)]
    assert VolTrack.from_record(sim.tables.volatility.get("SPY")).regime == "halted"
    for option in chain(T + 38 * S, 590.1)[1:]:  # the options still quote, the underlying not
        await handler(sim, "quotes", "market")(option, 0)
    assert regimes(sim)[-1][0] == "halted"
    refused = await signal(sim, 1, T + 40 * S)
    assert refused["status"] == "rejected"
    assert refused["reason"] == ("no entries while halted: no underlying price for 35.0s in "
                                 "market hours (max 30s)")
    await quotes(sim, T + 60 * S, 590.2)  # the feed is back
    assert regimes(sim)[-1] == ("calm", T + 60 * S)  # three quiet prices and a quiet chain
    await tick(sim, T + 61 * S)
    assert len(regimes(sim)) == 3
    allowed = await signal(sim, 2, T + 61 * S)
    assert allowed["status"] == "pending", allowed["reason"]
    assert allowed["reason"].startswith("call 591 exp 2026-11-24 Δ0.")  # why this contract
    assert "within ±0.10 of Δ0.40" in allowed["reason"]


async def test_the_close_ends_a_silent_halt_on_the_tick() -> None:
    sim = simulation()
    close = at(21, 0)  # 16:00 New York
    await quotes(sim, close - 60 * S, 590.0)
    await tick(sim, close - 20 * S)
    assert regimes(sim)[-1][0] == "halted"
    await tick(sim, close + 5 * S)  # silence after the close is no halt
    assert regimes(sim)[-1] == ("normal", close + 5 * S)


async def test_a_tick_moves_no_regime_but_into_or_out_of_halted() -> None:
    sim = simulation()
    await quotes(sim, T, 590.0)
    record = VolTrack.from_record(sim.tables.volatility.get("SPY"))
    sim.tables.volatility["SPY"] = replace(record, regime="stressed").to_record()
    await tick(sim, T + 10 * S)  # the tick sees "normal": the quotes' call, not the tick's
    assert regimes(sim) == [("normal", T)]
    assert VolTrack.from_record(sim.tables.volatility.get("SPY")).regime == "stressed"


# --- the chain's implied vol ------------------------------------------------------------

def test_the_regime_converts_implied_vols_by_the_hand_computed_factor() -> None:
    assert calendar_to_trading_vol(1.0) == pytest.approx(TO_TRADING, abs=1e-12)
    assert round(TO_TRADING, 5) == 0.43242


@pytest.mark.parametrize(("rv_30m", "iv", "regime", "reason"), [
    # 0.20 x 0.4324 = 8.6 % < 10 %: calm needs the implied vol quiet too
    (0.06, 0.20, Regime.CALM, "calm: 5-min 5.0% and 30-min 6.0% realised vol, ATM implied "
                              "vol 8.6% < 10%"),
    # 0.30 x 0.4324 = 13.0 %: quiet realised vol, but the options price more: normal
    (0.06, 0.30, Regime.NORMAL, "normal: 5-min 5.0%, 30-min 6.0% realised vol, ATM implied "
                                "vol 13.0%"),
    # 0.95 x 0.4324 = 41.1 % >= 40 %: stressed on the implied vol alone
    (0.06, 0.95, Regime.STRESSED, "stressed: ATM implied vol 41.1% >= 40%"),
    # 31 % realised over 30 minutes: stressed whatever the implied vol says
    (0.31, 0.20, Regime.STRESSED, "stressed: 30-min realised vol 31.0% >= 30%"),
    # both: each named
    (0.31, 0.95, Regime.STRESSED, "stressed: 30-min realised vol 31.0% >= 30%, ATM implied "
                                  "vol 41.1% >= 40%"),
    # no implied vol: realised alone, as before
    (0.06, None, Regime.CALM, "calm: 5-min 5.0% and 30-min 6.0% realised vol < 10%"),
])
def test_stressed_if_either_is_high_calm_only_if_both_are_quiet(
        rv_30m: float, iv: float | None, regime: Regime, reason: str) -> None:
    figures = VolFigures(rv_1m=0.05, rv_5m=0.05, rv_30m=rv_30m, iv_calendar=iv,
                         last_price_us=T, bid=589.99, ask=590.01)
    call = classify(figures, T, True)
    assert (call.regime, call.reason) == (regime, reason)


def contract(strike: float, bid: float, ask: float, iv: float | None, quote_us: int = T - S,
             expiry: str = "2026-11-24", kind: str = "call") -> ChainQuote:
    return ChainQuote(f"SPY{strike:g}{kind}{expiry}", kind, strike, expiry, bid, ask, quote_us,
                      iv=iv)


def test_near_money_iv_is_the_median_of_fresh_quotes_of_the_nearest_expiry() -> None:
    spot = 600.0
    t = year_fraction_us(T, expiry_close_us("2026-11-24"))
    mid = bs_price(spot, 601.0, t, 0.22, 0.04, "call")  # no feed IV: implied from the mid, 22 %
    near = [contract(599.0, 1.0, 1.1, 0.20), contract(600.0, 1.0, 1.1, 0.25, kind="put"),
            contract(602.0, 1.0, 1.1, 0.30), contract(601.0, mid - 0.01, mid + 0.01, None)]
    ignored = [contract(600.0, 1.0, 1.1, 0.90, quote_us=T - 61 * S),  # 61 s old
               contract(600.0, 1.0, 1.1, 0.90, quote_us=T + S),  # after the measuring time
               contract(610.0, 1.0, 1.1, 0.90),  # 1.7 % from the spot
               contract(600.0, 1.0, 1.1, 0.90, expiry="2026-11-25"),  # a later expiry
               contract(600.0, 0.0, 1.1, 0.90)]  # one-sided
    iv = near_money_iv(near + ignored, spot, T)
    assert iv == pytest.approx((0.22 + 0.25) / 2, abs=1e-6)  # median of 20, 22, 25, 30 %
    assert near_money_iv(ignored[:2], spot, T) is None
    tomorrow = near_money_iv([ignored[3]], spot, T)  # no 0DTE quote: the nearest later expiry
    assert tomorrow == pytest.approx(0.90)


def test_the_record_keeps_the_iv_and_the_regime_reads_it_only_while_fresh() -> None:
    track = VolTrack().observe(T, 589.99, 590.01).with_iv(0.95, T)
    assert track.with_iv(None, T + S) == track and track.with_iv(math.nan, T + S) == track
    assert VolTrack.from_record(track.to_record()) == track
    assert track.figures(T + 300 * S).iv_calendar == 0.95
    assert track.figures(T + 301 * S).iv_calendar is None  # older than 5 minutes
    assert track.figures(T - S).iv_calendar is None  # measured after the decision
    state = vol_state_at(track.to_record(), T + 10 * S, True, VolRules())
    assert state is not None and state.regime is Regime.STRESSED
    assert state.regime_reason == "stressed: ATM implied vol 41.1% >= 40%"
    short = RegimeLimits(iv_max_age_us=5 * S)
    assert track.call(T + 10 * S, True, short).regime is Regime.NORMAL
    for bad in ({"iv": "high"}, {"iv": math.inf}, {"iv": -0.2}, {"iv": 0.2, "iv_us": "now"}):
        with pytest.raises(ValueError):
            VolTrack.from_record({**track.to_record(), **bad})


async def test_the_market_agent_keeps_the_chains_iv_and_a_high_one_refuses_entries() -> None:
    sim = simulation()
    await quotes(sim, T, 590.0)
    assert VolTrack.from_record(sim.tables.volatility.get("SPY")).iv is None  # no chain yet
    await quotes(sim, T + 5 * S, 590.0)  # the chain of T is cached now
    track = VolTrack.from_record(sim.tables.volatility.get("SPY"))
    fed = sorted(q["iv"] for q in chain(T, 590.0) if q["option_type"])  # all 14 within 1 %
    assert track.iv == pytest.approx((fed[6] + fed[7]) / 2) and track.iv_us == T + 5 * S
    # the options reprice at 95 % IV (41 % in trading time): stressed on the next bucket
    scared = [{**q, "iv": 0.95, "event_time": T + 8 * S} for q in chain(T + 8 * S, 590.0)
              if q["option_type"]]
    for q in scared:
        await handler(sim, "quotes", "market")(q, 0)
    await quotes(sim, T + 10 * S, 590.0)
    assert regimes(sim)[-1] == ("stressed", T + 10 * S)
    refused = await signal(sim, 3, T + 11 * S)
    assert refused["reason"] == "no entries while stressed: ATM implied vol 41.1% >= 40%"
