"""The volatility checks in the decision path: each refuses only its own case through
:func:`domain.risk.check`, the decision names the regime and shrinks the size as vol rises,
the ``volatility`` record reads back what the market agent wrote, and the agents keep it
and use it (through the simulation's host, as the live worker runs them)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from stocktracker.domain.contracts import ChainQuote
from stocktracker.domain.control import ControlState
from stocktracker.domain.decision import Book, Decision, TradingRules, decide, rules_from
from stocktracker.domain.jumps import JumpGuard
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.orders import Account
from stocktracker.domain.regime import Regime, VolSizing
from stocktracker.domain.risk import RiskLimits, check
from stocktracker.domain.sizing import SizingRule
from stocktracker.domain.vol_risk import VOL_CHECKS, VolRules, VolState, VolTrack, vol_state_at
from stocktracker.streams.core.settings import RiskSettings, SentimentSettings, Settings
from stocktracker.streams.samples import at, chain
from stocktracker.streams.simulation import Simulation
from tests.unit.test_risk import BASE, DAY, LIMITS, NOW, STATE, session_of

CALM = VolState(Regime.CALM, "calm: quiet", vol=0.08)
STRESSED = VolState(Regime.STRESSED, "stressed: 5-min realised vol 41.0% >= 35%", vol=0.41)
HALTED = VolState(Regime.HALTED, "halted: no underlying price for 31.0s in market hours (max 30s)")
BLOCKED = replace(CALM, blocked_until_us=NOW + 1, jump_reason="move +0.400% beat 0.160% at 1")

# name: (a state that fails only that check, one just inside that passes every check)
VOL_CASES: dict[str, tuple[VolState, VolState]] = {
    "vol_regime": (STRESSED, replace(STRESSED, allow_stressed=True)),
    "jump_guard": (BLOCKED, replace(BLOCKED, blocked_until_us=NOW)),
}


def test_every_vol_check_has_a_case() -> None:
    assert sorted(VOL_CASES) == sorted(name for name, _ in VOL_CHECKS)


@pytest.mark.parametrize("name", sorted(VOL_CASES))
def test_each_vol_check_refuses_only_what_it_should(name: str) -> None:
    failing, passing = VOL_CASES[name]
    verdict = check(BASE, replace(STATE, vol=failing), LIMITS, session_of(DAY))
    assert verdict.failed == (name,), verdict.reasons
    assert len(verdict.reasons) == 1 and verdict.reasons[0]
    assert check(BASE, replace(STATE, vol=passing), LIMITS, session_of(DAY)).ok


def test_the_regime_check_names_the_regime_and_each_flag_lifts_its_own() -> None:
    session = session_of(DAY)
    stressed = check(BASE, replace(STATE, vol=STRESSED), LIMITS, session)
    assert stressed.reasons == ("no entries while stressed: 5-min realised vol 41.0% >= 35%",)
    halted = check(BASE, replace(STATE, vol=HALTED), LIMITS, session)
    assert halted.failed == ("vol_regime",) and "halted" in halted.reasons[0]
    assert not check(BASE, replace(STATE, vol=replace(HALTED, allow_stressed=True)),
                     LIMITS, session).ok
    assert check(BASE, replace(STATE, vol=replace(HALTED, allow_halted=True)), LIMITS, session).ok
    for calm_or_normal in (CALM, VolState()):
        assert check(BASE, replace(STATE, vol=calm_or_normal), LIMITS, session).ok


def test_jump_guard_says_how_long_and_why() -> None:
    blocked = replace(BLOCKED, blocked_until_us=NOW + 120_000_000)
    verdict = check(BASE, replace(STATE, vol=blocked), LIMITS, session_of(DAY))
    assert verdict.reasons == ("jump guard: entries blocked for 120s more "
                               "(move +0.400% beat 0.160% at 1)",)


def test_vol_checks_run_with_the_others_and_not_without_a_state() -> None:
    stressed_and_blocked = replace(STRESSED, blocked_until_us=NOW + 1)
    both = check(replace(BASE, qty=6), replace(STATE, paused=True, vol=stressed_and_blocked),
                 LIMITS, session_of(DAY))
    assert both.failed == ("paused", "max_per_order", "vol_regime", "jump_guard")
    assert check(BASE, replace(STATE, vol=None), LIMITS, session_of(DAY)).ok


# --- the decision -----------------------------------------------------------------------

T = at(16, 0)  # 11:00 New York on the reference day
SESSION = MarketCalendar().session_on(DAY)
CHAIN = [ChainQuote.from_dict(q) for q in chain(T, 590.0) if q["option_type"]]
RULES = TradingRules(
    sizing=SizingRule(mode="fixed", contracts=8, max_contracts_per_order=8),
    limits=RiskLimits(max_contracts_per_order=8, max_premium_per_position=1e6,
                      max_total_premium=1e6))


def decided(vol: VolState | None, rules: TradingRules = RULES) -> Decision:
    return decide(signal={"id": "s", "ticker": "SPY", "direction": "bullish", "event_time": T,
                          "trace": {}},
                  spot_mid=590.0, chain=CHAIN, book=Book(), session=SESSION,
                  account=Account(equity=1e6, buying_power=1e6, cash=1e6), rules=rules,
                  control=ControlState(), vol=vol)


def test_a_stressed_regime_refuses_the_entry_naming_it() -> None:
    decision = decided(STRESSED)
    assert not decision.ok
    assert decision.reasons == ("no entries while stressed: 5-min realised vol 41.0% >= 35%",)
    # RISK_ALLOW_STRESSED=true: the stressed scale is RISK_VOL_MIN_SCALE (rules_from)
    rules = replace(RULES, vol=VolRules(allow_stressed=True, sizing=VolSizing(stressed_scale=0.25)))
    allowed = decided(replace(STRESSED, allow_stressed=True), rules)
    assert allowed.ok and allowed.qty == 2
    assert "stressed" in allowed.sizing


def test_the_size_shrinks_as_vol_rises() -> None:
    sizes = [decided(VolState(Regime.NORMAL, vol=v)).qty for v in (0.10, 0.20, 0.30, 0.60, 2.0)]
    assert sizes == [8, 6, 4, 2, 2]  # 8 x clamp(0.15 / vol, 0.25, 1)
    assert "vol 30.0% vs reference 15.0%: scale 0.50 x 8 = 4" in decided(
        VolState(Regime.NORMAL, vol=0.30)).sizing


def test_scaling_never_refuses_and_unknowns_keep_the_budgets_size() -> None:
    one = replace(RULES, sizing=SizingRule(mode="fixed", contracts=1))
    tiny = decided(VolState(Regime.NORMAL, vol=0.60), one)
    assert tiny.ok and tiny.qty == 1 and tiny.sizing.endswith("(at least 1)")
    assert decided(None).qty == 8 and "vol" not in decided(None).sizing
    warming = decided(VolState(Regime.NORMAL, "normal: realised vol still warming up"))
    assert warming.ok and warming.qty == 8 and "warming up" in warming.sizing


def test_rules_come_from_the_risk_settings() -> None:
    settings = Settings(kafka={"bootstrap_servers": "127.0.0.1:1"},  # type: ignore[arg-type]
                        risk=RiskSettings(_env_file=None, allow_stressed=True, halt_after_s=45,  # type: ignore[call-arg]
                                          jump_sigma=4, jump_block_s=120, vol_reference=0.2,
                                          vol_min_scale=0.5, vol_checks=False))
    vol = rules_from(settings).vol
    assert (vol.enabled, vol.allow_stressed, vol.allow_halted) == (False, True, False)
    assert vol.regime.halt_after_us == 45_000_000
    assert (vol.jumps.sigmas, vol.jumps.block_us) == (4, 120_000_000)
    assert vol.sizing == VolSizing(reference_vol=0.2, min_scale=0.5, stressed_scale=0.5)


# --- the volatility record --------------------------------------------------------------

def track_of(prices: list[tuple[int, float]]) -> VolTrack:
    track = VolTrack()
    for ts, price in prices:
        track = track.observe(ts, price - 0.01, price + 0.01)
    return track


def test_no_record_or_checks_off_means_nothing_checked() -> None:
    assert vol_state_at(None, T, True, VolRules()) is None
    record = track_of([(T - 5_000_000, 590.0)]).to_record()
    assert vol_state_at(record, T, True, VolRules(enabled=False)) is None


def test_sparse_quotes_are_warming_up_not_halted_until_the_silence_is_long() -> None:
    record = track_of([(T - 25_000_000, 590.0)]).to_record()  # one quote, 25 s before
    state = vol_state_at(record, T, True, VolRules())
    assert state is not None and state.regime is Regime.NORMAL and state.vol is None
    silent = vol_state_at(record, T + 6_000_000, True, VolRules())
    assert silent is not None and silent.regime is Regime.HALTED
    assert "no underlying price for 31.0s" in silent.regime_reason
    closed = vol_state_at(record, T + 6_000_000, False, VolRules())
    assert closed is not None and closed.regime is Regime.NORMAL  # silence is no halt when closed


def test_a_jump_blocks_and_one_seen_after_the_signal_does_not() -> None:
    steady = [(T - 600_000_000 + k * 5_000_000, 590.0 * (1 + 0.0001 * (-1) ** k))
              for k in range(110)]
    track = track_of([*steady, (T, 593.0)])  # +0.5 % in a minute on a quiet half hour
    assert track.guard.jump_us == T and track.guard.blocked_until_us == T + 300_000_000
    state = vol_state_at(track.to_record(), T + 1_000_000, True, VolRules())
    assert state is not None and state.blocked_until_us == T + 300_000_000
    before = vol_state_at(track.to_record(), T - 1_000_000, True, VolRules())
    assert before is not None and before.blocked_until_us == 0


def test_a_drift_across_a_gap_in_quotes_is_no_jump_but_the_same_move_in_a_minute_is() -> None:
    # +0.4 %: over 20 minutes of silence the threshold is sqrt(20) times the minute's
    drift = track_of([(T, 590.0), (T + 1_200_000_000, 592.36)])
    assert drift.guard == JumpGuard()
    sudden = track_of([(T, 590.0), (T + 60_000_000, 592.36)])
    assert sudden.guard.jump_us == T + 60_000_000


def test_the_record_round_trips_and_unreadable_ones_are_refused() -> None:
    track = replace(track_of([(T, 590.0), (T + 5_000_000, 590.5)]), regime="normal")
    assert VolTrack.from_record(track.to_record()) == track
    assert VolTrack.from_record(None) == VolTrack()
    for bad in ({"bid": "590"}, {"window": [1]}, {"guard": {"blocked_until_us": "soon"}},
                {"regime": 3}):
        with pytest.raises(ValueError):
            VolTrack.from_record(bad)


def test_only_a_new_bucket_a_new_guard_a_crossing_or_a_new_regime_is_saved() -> None:
    first = track_of([(T, 590.0)])
    same_bucket = first.observe(T + 1_000_000, 590.01, 590.03)
    assert not same_bucket.worth_saving(first)
    assert first.observe(T + 5_000_000, 590.01, 590.03).worth_saving(first)
    assert first.observe(T + 1_000_000, 590.05, 590.0).worth_saving(first)  # crossed
    assert replace(first, regime="calm").worth_saving(first)
    assert replace(first, guard=JumpGuard(T + 1)).worth_saving(first)
    assert first.observe(T + 1_000_000, 590.05, 590.0).window == first.window  # no price


# --- through the agents -----------------------------------------------------------------

def simulation() -> Simulation:
    settings = Settings(kafka={"bootstrap_servers": "127.0.0.1:1"},  # type: ignore[arg-type]
                        sentiment=SentimentSettings(_env_file=None, finbert="off",  # type: ignore[call-arg]
                                                    llm_calls_per_minute=0))
    sim = Simulation(settings, broker=None)
    sim.reconciled.set()
    sim.outcome.records["metrics"], sim.outcome.keys["metrics"] = [], []
    return sim


def handler(sim: Simulation, topic: str, stage: str) -> Any:
    [found] = [h for s, _, h in sim._handlers[topic] if s == stage]
    return found


async def quotes(sim: Simulation, event_us: int, spot: float) -> None:
    for quote in chain(event_us, spot):
        await handler(sim, "quotes", "market")(quote, 0)


async def test_the_market_agent_keeps_the_record_and_publishes_regime_changes() -> None:
    sim = simulation()
    await quotes(sim, T, 590.0)
    await quotes(sim, T + 60_000_000, 593.0)  # a jump: +0.5 % in a minute
    track = VolTrack.from_record(sim.tables.volatility.get("SPY"))
    assert track.window.prices == (590.0, 593.0) and track.guard.jump_us == T + 60_000_000
    assert list(sim.tables.volatility.keys()) == ["SPY"]  # option quotes add nothing
    [metric] = [m for m in sim.outcome.records["metrics"] if m["name"] == "vol_regime"]
    assert metric["value"] == 1.0 and metric["event_time"] == T
    assert metric["labels"] == {"stage": "market", "underlying": "SPY", "regime": "normal"}
    crossed = {**chain(T + 62_000_000, 593.0)[0], "bid": 593.5, "ask": 593.0}
    await handler(sim, "quotes", "market")(crossed, 0)
    regimes = [m["labels"]["regime"] for m in sim.outcome.records["metrics"]
               if m["name"] == "vol_regime"]
    assert regimes == ["normal", "halted"]


async def test_the_execute_agent_refuses_an_entry_after_a_jump_with_the_reason() -> None:
    sim = simulation()
    await quotes(sim, T, 590.0)
    await quotes(sim, T + 60_000_000, 593.0)
    signal = {"id": "SPY:bullish:1", "ticker": "SPY", "direction": "bullish",
              "event_time": T + 65_000_000, "score": 0.8, "trace": {}}
    await handler(sim, "signals", "execute")(signal, 0)
    [order] = sim.outcome.records["orders"]
    assert order["status"] == "rejected" and order["reason"].startswith("jump guard: ")
