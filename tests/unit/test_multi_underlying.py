"""Several underlyings through the live agents (the event-time simulation): each ticker's
signals, cool-downs, positions and exits stay its own, and the portfolio limits count
them together."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from stocktracker.connectors.simulated.market import day_items
from stocktracker.domain.market_day import DEFAULT_UNDERLYINGS, generate_market_day
from stocktracker.domain.orders import parse_occ
from stocktracker.streams.core.settings import SentimentSettings, Settings, SignalSettings
from stocktracker.streams.simulation import Outcome, Simulation

OPEN = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
CLOSE = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
TICKERS = ("SPY", "QQQ", "AAPL")


@pytest.fixture(scope="module")
def outcome() -> Outcome:
    settings = Settings(
        kafka={"bootstrap_servers": "127.0.0.1:1"},  # type: ignore[arg-type]
        sentiment=SentimentSettings(_env_file=None, finbert="off",  # type: ignore[call-arg]
                                    llm_calls_per_minute=0),
        signal=SignalSettings(_env_file=None, tickers=TICKERS))  # type: ignore[call-arg]
    market = generate_market_day(OPEN, CLOSE, seed=7, quote_every_s=15.0, strikes_each_side=6,
                                 underlyings=[u for u in DEFAULT_UNDERLYINGS if u.ticker in TICKERS])
    three_hours = OPEN.timestamp() * 1e6 + 3 * 3600e6
    return asyncio.run(Simulation(settings).run(
        [i for i in day_items(market) if i.event_us < three_hours]))


def by_underlying(records: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        out[record[key]].append(record)
    return out


def test_every_underlying_gets_its_own_signals_and_trades(outcome: Outcome) -> None:
    assert outcome.failures == []
    signals = by_underlying(outcome.records["signals"], "ticker")
    assert set(signals) == set(TICKERS) and all(len(s) >= 3 for s in signals.values())
    filled = by_underlying([o for o in outcome.records["orders"]
                            if o["intent"] == "open" and o["status"] == "filled"], "underlying")
    assert set(filled) == set(TICKERS)
    for ticker, orders in filled.items():
        assert all(parse_occ(o["symbol"]).underlying == ticker for o in orders)
    # the weekly stock trades its Friday expiry, the ETFs their 0DTE
    assert {parse_occ(o["symbol"]).expiry for o in filled["AAPL"]} == {"2026-11-27"}
    assert {parse_occ(o["symbol"]).expiry for o in filled["SPY"] + filled["QQQ"]} == {"2026-11-24"}


def test_cool_downs_are_per_ticker(outcome: Outcome) -> None:
    cooldown_us = 600 * 1_000_000
    times = {t: [s["event_time"] for s in sigs]
             for t, sigs in by_underlying(outcome.records["signals"], "ticker").items()}
    for stamps in times.values():
        assert all(b - a >= cooldown_us for a, b in pairwise(stamps))
    # ... and one ticker's signal does not hold back another's
    close = [(a, b) for a in times["SPY"] for b in times["QQQ"] if abs(a - b) < cooldown_us]
    assert close


def test_exits_close_only_what_their_own_underlying_opened(outcome: Outcome) -> None:
    opened = {o["symbol"]: o["underlying"] for o in outcome.records["orders"]
              if o["intent"] == "open" and o["status"] == "filled"}
    closes = [o for o in outcome.records["orders"] if o["intent"] == "close"]
    assert {o["underlying"] for o in closes} >= {"SPY", "QQQ"}
    for order in closes:
        assert opened[order["symbol"]] == order["underlying"]


def test_the_total_limits_count_every_underlying_together(outcome: Outcome) -> None:
    # an entry refused by the account-wide contract count although its own underlying
    # had room: the other underlyings' positions filled the total
    refused = [o for o in outcome.records["orders"]
               if o["status"] == "rejected" and "total" in (o["reason"] or "")
               and "position" not in (o["reason"] or "")]
    assert refused, [o["reason"] for o in outcome.records["orders"] if o["status"] == "rejected"]
    assert len({o["underlying"] for o in refused}) >= 1
