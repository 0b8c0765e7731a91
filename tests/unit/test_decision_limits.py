"""The entry limit of a decision goes on the contract's price steps (rounded up: a buy
at the ask stays marketable)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from stocktracker.domain.contracts import ChainQuote, ContractRule, expiry_close_us
from stocktracker.domain.control import ControlState
from stocktracker.domain.decision import Book, TradingRules, decide
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.orders import Account
from stocktracker.domain.pricing import bs_price, occ_symbol, year_fraction_us

DAY = date(2026, 11, 24)
NOW = int(datetime(2026, 11, 24, 16, 0, tzinfo=UTC).timestamp() * 1_000_000)  # 11:00 ET


def chain(underlying: str, spot: float, penny: bool | None) -> list[ChainQuote]:
    """Calls and puts around ``spot`` expiring today, priced by Black-Scholes, each ask
    3/10 of a cent over a cent (off every step)."""
    t = year_fraction_us(NOW, expiry_close_us(DAY.isoformat()))
    quotes = []
    for strike in range(int(spot) - 10, int(spot) + 11):
        for kind in ("call", "put"):
            price = bs_price(spot, strike, t, 0.60, 0.04, kind)
            bid = round(max(price - 0.02, 0.01), 2)
            quotes.append(ChainQuote(occ_symbol(underlying, DAY, kind, strike), kind,
                                     float(strike), DAY.isoformat(), bid,
                                     round(price + 0.02, 2) + 0.003, NOW - 100_000, 50, 50,
                                     0.60, None, 5_000, 1_000, penny))
    return quotes


def entry_limit(underlying: str, spot: float, penny: bool | None) -> tuple[float, float]:
    """The decision's limit and the chosen contract's ask."""
    quotes = chain(underlying, spot, penny)
    decision = decide(
        signal={"id": "s", "ticker": underlying, "direction": "bullish", "event_time": NOW,
                "trace": {}},
        spot_mid=spot, chain=quotes, book=Book(), session=MarketCalendar().session_on(DAY),
        account=Account(equity=50_000.0, buying_power=50_000.0, cash=50_000.0),
        rules=TradingRules(contract=ContractRule(min_open_interest=0, min_volume=0)),
        control=ControlState())
    assert decision.ok and decision.limit_price is not None, decision
    ask = next(q.ask for q in quotes if q.symbol == decision.symbol)
    return decision.limit_price, ask


@pytest.mark.parametrize("spot", [300.0, 800.0])  # the chosen contract under $3, over $3
@pytest.mark.parametrize(("underlying", "penny", "steps"), [
    ("SPY", True, (0.01, 0.01)), ("SPY", None, (0.01, 0.01)), ("XYZ", True, (0.01, 0.05)),
    ("XYZ", False, (0.05, 0.10)), ("XYZ", None, (0.05, 0.10)),
])
def test_the_entry_limit_is_the_ask_rounded_up_onto_the_steps(
        underlying: str, penny: bool | None, steps: tuple[float, float], spot: float) -> None:
    limit, ask = entry_limit(underlying, spot, penny)
    assert (ask < 3) == (spot < 500)
    tick = steps[0] if ask < 3 else steps[1]
    assert ask <= limit < ask + tick
    assert abs(limit / tick - round(limit / tick)) < 1e-6


def test_a_chain_quote_keeps_its_penny_flag_through_the_quote_record() -> None:
    quote = replace(chain("XYZ", 300.0, False)[0])
    assert ChainQuote.from_dict(quote.to_record("XYZ")).penny is False
    assert ChainQuote.from_dict({**quote.to_record("XYZ"), "penny": None}).penny is None


@pytest.mark.parametrize(("control", "first"), [
    (ControlState(killed=True), "kill switch is on"), (ControlState(paused=True), "trading is paused"),
    (ControlState(), "no contract: "),
])
def test_a_switched_off_account_says_so_first_even_when_no_contract_qualifies(
        control: ControlState, first: str) -> None:
    decision = decide(
        signal={"id": "s", "ticker": "SPY", "direction": "bullish", "event_time": NOW, "trace": {}},
        spot_mid=590.0, chain=[], book=Book(), session=MarketCalendar().session_on(DAY),
        account=Account(equity=50_000.0, buying_power=50_000.0, cash=50_000.0),
        rules=TradingRules(), control=control)
    assert not decision.ok and decision.reasons[0].startswith(first)
    assert decision.reasons[-1].startswith("no contract: ")
