"""Fills on derived quotes (imported bars: a spread model's bid/ask, domain/fills.py) and in
the simulated broker: never against the bar the order was decided on, slippage on every
order; the prices below are worked by hand."""

from __future__ import annotations

import pytest

from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.domain.fills import may_fill, simulate_fill
from stocktracker.domain.orders import OrderRequest

SYM = "SPY261124C00590000"
MINUTE = 60_000_000


def test_a_limit_buy_on_a_derived_touch_pays_the_slippage_and_respects_its_limit() -> None:
    # ask 1.05 + 0.02 slippage = 1.07: inside a 1.10 limit, outside a 1.06 one
    fill = simulate_fill("buy", 3, "limit", 1.10, 1.00, 1.05, slippage=0.02, derived=True)
    assert fill is not None and (fill.price, fill.commission) == (1.07, 1.95)
    assert simulate_fill("buy", 3, "limit", 1.06, 1.00, 1.05, slippage=0.02, derived=True) is None
    # quoted (not derived): a limit order fills at the touch, no slippage
    quoted = simulate_fill("buy", 3, "limit", 1.06, 1.00, 1.05, slippage=0.02)
    assert quoted is not None and quoted.price == 1.05


def test_a_sell_on_a_derived_touch_gets_the_bid_less_slippage_never_below_zero() -> None:
    limit = simulate_fill("sell", 1, "limit", 0.95, 1.00, 1.05, slippage=0.03, derived=True)
    assert limit is not None and limit.price == 0.97
    assert simulate_fill("sell", 1, "limit", 0.98, 1.00, 1.05, slippage=0.03, derived=True) is None
    market = simulate_fill("sell", 1, "market", None, 0.01, 0.05, slippage=0.03, derived=True)
    assert market is not None and market.price == 0.0


def test_a_derived_quote_never_fills_the_order_decided_on_it() -> None:
    assert not may_fill(MINUTE, MINUTE, 0, derived=True)  # the bar the order came from
    assert may_fill(MINUTE, MINUTE, 0, derived=False)  # a quote at hand, no latency
    assert may_fill(2 * MINUTE, MINUTE, 50_000, derived=True)
    assert not may_fill(MINUTE + 40_000, MINUTE, 50_000, derived=False)  # latency not over


def buy(coid: str, limit: float | None, kind: str = "limit") -> OrderRequest:
    return OrderRequest(coid, SYM, "buy", 2, kind, limit, "open")


async def test_an_order_fills_at_the_next_bars_price_with_slippage() -> None:
    broker = SimulatedBroker(slippage=0.01, commission_per_contract=0.65, cash=10_000,
                             latency_us=0)
    broker.on_quote(SYM, 1.00, 1.04, 50, 50, MINUTE, derived=True)
    # no latency, a marketable limit: a quoted touch would fill now; a bar does not
    assert (await broker.submit(buy("o1", 1.10), at_us=MINUTE)).event == "new"
    [fill] = broker.on_quote(SYM, 1.02, 1.06, 50, 50, 2 * MINUTE, derived=True)
    # the next bar: ask 1.06 + 0.01
    assert (fill.event, fill.last_fill_price, fill.at_us) == ("fill", 1.07, 2 * MINUTE)
    assert broker.cash == pytest.approx(10_000 - 2 * 107 - 2 * 0.65)


async def test_an_order_waits_for_its_latency_then_the_first_bar_after_it() -> None:
    broker = SimulatedBroker(slippage=0.01, cash=10_000, latency_us=50_000)
    broker.on_quote(SYM, 1.00, 1.04, 50, 50, MINUTE, derived=True)
    assert (await broker.submit(buy("m1", None, "market"), at_us=MINUTE + 30_000_000)).event == "new"
    # a bar stamped before the order reached the market (order + 50 ms) does not fill it
    assert broker.on_quote(SYM, 1.00, 1.03, 50, 50, MINUTE + 30_040_000, derived=True) == []
    [fill] = broker.on_quote(SYM, 1.10, 1.14, 50, 50, 2 * MINUTE, derived=True)
    assert (fill.event, fill.last_fill_price) == ("fill", 1.15)


async def test_a_limit_under_the_next_bars_ask_plus_slippage_rests() -> None:
    broker = SimulatedBroker(slippage=0.01, cash=10_000)
    broker.on_quote(SYM, 1.00, 1.04, 50, 50, MINUTE, derived=True)
    assert (await broker.submit(buy("r1", 1.04), at_us=MINUTE)).event == "new"
    assert broker.on_quote(SYM, 1.00, 1.04, 50, 50, 2 * MINUTE, derived=True) == []  # 1.05 > 1.04
    [fill] = broker.on_quote(SYM, 0.98, 1.03, 50, 50, 3 * MINUTE, derived=True)
    assert fill.last_fill_price == 1.04


async def test_a_quoted_touch_still_standing_when_the_order_arrives_fills_it() -> None:
    # a market quote stands until the next one: an order sent at 1 s with 70 ms latency meets
    # the 1.05 ask (learnt when the 15 s quote comes), stamped at its arrival, not at 1.30
    broker = SimulatedBroker(slippage=0.01, cash=10_000, latency_us=70_000)
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 500_000)
    assert (await broker.submit(buy("q1", 1.10), at_us=1_000_000)).event == "new"
    [fill] = broker.on_quote(SYM, 1.25, 1.30, 50, 50, 15_000_000)
    assert (fill.last_fill_price, fill.at_us) == (1.05, 1_070_000)
