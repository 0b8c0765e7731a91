"""The simulated broker behind the Broker interface, the live-trading switches, OCC symbols."""

from __future__ import annotations

import asyncio

import pytest

from connectors.simulated.broker import SimulatedBroker
from domain.orders import OrderRequest, OrderUpdate, parse_occ
from streams.brokers import LiveTradingRefused, check_live, make_broker
from streams.settings import Settings, TradingSettings

SYM = "SPY261124C00590000"


def buy(coid: str = "o1", qty: int = 2, limit: float | None = 1.10,
        kind: str = "limit") -> OrderRequest:
    return OrderRequest(coid, SYM, "buy", qty, kind, limit, "open")


async def drain(broker: SimulatedBroker) -> list[OrderUpdate]:
    out = []
    updates = broker.updates()
    while True:
        try:
            out.append(await asyncio.wait_for(anext(updates), 0.05))
        except TimeoutError:
            return out


async def test_marketable_limit_fills_at_the_touch_with_commission() -> None:
    broker = SimulatedBroker(slippage=0.02, commission_per_contract=0.65, cash=10_000)
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    state = await broker.submit(buy())
    assert state.event == "fill" and state.filled_qty == 2 and state.filled_avg_price == 1.05
    events = await drain(broker)
    assert [e.event for e in events] == ["new", "fill"]
    assert events[1].last_fill_commission == pytest.approx(1.30)
    assert broker.cash == pytest.approx(10_000 - 2 * 105 - 1.30)
    assert [(p.symbol, p.qty) for p in await broker.positions()] == [(SYM, 2)]


async def test_limit_below_the_ask_waits_for_the_market_to_trade_through() -> None:
    broker = SimulatedBroker()
    broker.on_quote(SYM, 1.00, 1.20, 50, 50, 1_000)
    assert (await broker.submit(buy(limit=1.10))).event == "new"
    assert broker.on_quote(SYM, 1.02, 1.15, 50, 50, 2_000) == []
    filled = broker.on_quote(SYM, 1.00, 1.08, 50, 50, 3_000)
    assert [(u.event, u.last_fill_price, u.at_us) for u in filled] == [("fill", 1.08, 3_000)]


async def test_thin_quote_fills_partially_then_fully() -> None:
    broker = SimulatedBroker()
    broker.on_quote(SYM, 1.00, 1.05, 10, 3, 1_000)
    state = await broker.submit(buy(qty=5))
    assert (state.event, state.filled_qty) == ("partial_fill", 3)
    rest = broker.on_quote(SYM, 1.00, 1.06, 10, 10, 2_000)
    assert (rest[0].event, rest[0].filled_qty, rest[0].last_fill_qty) == ("fill", 5, 2)
    assert rest[0].filled_avg_price == pytest.approx((3 * 1.05 + 2 * 1.06) / 5)


async def test_order_latency_in_event_time() -> None:
    broker = SimulatedBroker(latency_us=500_000)
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000_000)
    assert (await broker.submit(buy(), at_us=1_000_000)).event == "new"
    assert broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_400_000) == []
    assert broker.on_quote(SYM, 1.00, 1.07, 50, 50, 1_600_000)[0].last_fill_price == 1.07


async def test_same_client_order_id_never_opens_twice() -> None:
    broker = SimulatedBroker()
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    first = await broker.submit(buy())
    again = await broker.submit(buy())
    assert again == first and len(await broker.positions()) == 1
    assert (await broker.positions())[0].qty == 2


async def test_rejections_and_cancel() -> None:
    broker = SimulatedBroker(cash=100.0)
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    poor = await broker.submit(buy())
    assert poor.event == "rejected" and "buying power" in poor.reason
    naked = await broker.submit(OrderRequest("s1", SYM, "sell", 1, "limit", 1.0, "close"))
    assert naked.event == "rejected" and "holding 0" in naked.reason
    rich = SimulatedBroker()
    rich.on_quote(SYM, 1.00, 1.50, 50, 50, 1_000)
    await rich.submit(buy(limit=1.10))
    cancelled = await rich.cancel("o1")
    assert cancelled is not None and cancelled.event == "canceled"
    assert await rich.open_orders() == []
    assert rich.on_quote(SYM, 1.00, 1.05, 50, 50, 2_000) == []  # a cancelled order never fills


async def test_sell_to_close_books_the_proceeds() -> None:
    broker = SimulatedBroker(commission_per_contract=0.0, cash=1_000)
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    await broker.submit(buy(qty=2))
    broker.on_quote(SYM, 1.50, 1.55, 50, 50, 2_000)
    sold = await broker.submit(OrderRequest("c1", SYM, "sell", 2, "limit", 1.50, "close"))
    assert sold.event == "fill" and sold.filled_avg_price == 1.50
    assert broker.cash == pytest.approx(1_000 - 210 + 300)
    assert await broker.positions() == []


async def test_quote_source_serves_a_restarted_broker() -> None:
    from connectors.simulated.broker import Touch

    broker = SimulatedBroker()
    broker.quote_source = lambda s: Touch(1.0, 1.05, 10, 10, 5_000) if s == SYM else None
    assert (await broker.submit(buy())).event == "fill"


def test_live_needs_both_switches() -> None:
    paper = Settings(trading=TradingSettings(mode="paper", broker="alpaca"))
    live = Settings(trading=TradingSettings(mode="live", broker="alpaca"))
    assert check_live(paper, False) is False
    assert check_live(live, True) is True
    with pytest.raises(LiveTradingRefused, match="--live flag"):
        check_live(live, False)
    with pytest.raises(LiveTradingRefused, match="not live"):
        check_live(paper, True)
    with pytest.raises(LiveTradingRefused, match="alpaca"):
        check_live(Settings(trading=TradingSettings(mode="live")), True)
    assert make_broker(Settings()).name == "simulated"


def test_occ_symbols_parse() -> None:
    occ = parse_occ("SPY261124P00587500")
    assert (occ.underlying, occ.expiry, occ.option_type, occ.strike) == (
        "SPY", "2026-11-24", "put", 587.5)
    with pytest.raises(ValueError, match="OCC"):
        parse_occ("SPY")
    with pytest.raises(ValueError):
        OrderRequest("x", SYM, "buy", 1, "limit", None)
