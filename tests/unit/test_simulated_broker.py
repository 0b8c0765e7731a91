"""The simulated broker behind the Broker interface, the live-trading switches, OCC symbols."""

from __future__ import annotations

import asyncio
import threading

import pytest

from stocktracker.connectors.broker import BrokerError
from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.connectors.simulated.journal import KEEP_US, JournalError, MemoryJournal
from stocktracker.domain.orders import OrderRequest, OrderUpdate, parse_occ
from stocktracker.streams.core.settings import Settings, TradingSettings
from stocktracker.streams.venues import LiveTradingRefused, UnknownVenue, check_live, make_broker

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


async def test_an_off_step_limit_is_rejected_with_the_step() -> None:
    broker = SimulatedBroker()
    nickel = "XYZ261124C00100000"
    broker.on_quote(nickel, 1.00, 1.10, 50, 50, 1_000, penny=False)
    off = await broker.submit(OrderRequest("n1", nickel, "buy", 1, "limit", 1.07, "open"))
    assert off.event == "rejected" and "off the $0.05 price steps" in off.reason
    on = await broker.submit(OrderRequest("n2", nickel, "buy", 1, "limit", 1.10, "open"))
    assert on.event == "fill"
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)  # SPY: pennies at every price
    assert (await broker.submit(buy("n3", 1, 1.07))).event == "fill"


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
    assert broker.on_quote(SYM, 1.00, 1.06, 50, 50, 1_400_000) == []
    # the order reached the market at 1.5 s, while the 1.4 s quote stood: that one fills it
    [fill] = broker.on_quote(SYM, 1.00, 1.07, 50, 50, 1_600_000)
    assert (fill.last_fill_price, fill.at_us) == (1.06, 1_500_000)


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
    from stocktracker.domain.fills import Touch

    broker = SimulatedBroker()
    broker.quote_source = lambda s: Touch(1.0, 1.05, 10, 10, 5_000) if s == SYM else None
    assert (await broker.submit(buy())).event == "fill"


class FlakyJournal(MemoryJournal):
    """A journal that refuses saves while ``down`` (Kafka unreachable)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def save(self, state: dict[str, object]) -> None:
        if self.down:
            raise JournalError("journal unreachable")
        super().save(state)


async def test_every_fill_gets_its_own_execution_id() -> None:
    broker = SimulatedBroker(commission_per_contract=0.5)
    broker.on_quote(SYM, 1.00, 1.05, 10, 3, 1_000)
    first = await broker.submit(buy(qty=5))
    rest = broker.on_quote(SYM, 1.00, 1.06, 10, 10, 2_000)
    events = await drain(broker)
    assert [(e.event, e.execution_id) for e in events] == [
        ("new", ""), ("partial_fill", "sim-1.1"), ("fill", "sim-1.2")]
    assert first.execution_id == "sim-1.1" and rest[0].execution_id == "sim-1.2"
    executions = await broker.executions(0)
    assert [(x.execution_id, x.client_order_id, x.broker_order_id, x.qty, x.price, x.cum_qty)
            for x in executions] == [("sim-1.1", "o1", "sim-1", 3, 1.05, 3),
                                     ("sim-1.2", "o1", "sim-1", 2, 1.06, 5)]
    assert [x.commission for x in executions] == pytest.approx([1.5, 1.0])
    assert [x.at_us for x in executions] == [1_000, 2_000]


async def test_executions_since_a_time_oldest_first_and_settlement_is_not_one() -> None:
    broker = SimulatedBroker(commission_per_contract=0.0, cash=1_000)
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    await broker.submit(buy("o1", qty=2))
    broker.on_quote(SYM, 1.00, 1.05, 50, 50, 5_000)
    await broker.submit(buy("o2", qty=1))
    assert [x.execution_id for x in await broker.executions(0)] == ["sim-1.1", "sim-2.1"]
    assert [x.execution_id for x in await broker.executions(5_000)] == ["sim-2.1"]
    assert await broker.executions(5_001) == []
    broker.settle(SYM, 3, 0.40)
    assert broker.cash == pytest.approx(1_000 - 315 + 120)
    assert len(await broker.executions(0)) == 2 and await broker.positions() == []


async def test_clock_moves_with_the_stream_only_forward() -> None:
    broker = SimulatedBroker()
    broker.advance(7_000)
    broker.advance(3_000)
    assert await broker.clock_us() == 7_000


class UnreadableJournal(MemoryJournal):
    """A journal that cannot be read (Kafka down at start)."""

    def load(self) -> dict[str, object] | None:
        raise JournalError("journal unreachable")


async def test_the_journal_is_read_on_first_use_and_the_clock_never_goes_back() -> None:
    unreadable = SimulatedBroker(journal=UnreadableJournal())
    unreadable.advance(1_000)  # the stream's clock moves without the journal
    with pytest.raises(BrokerError, match="cannot read its journal"):
        await unreadable.positions()
    journal = MemoryJournal()
    old = SimulatedBroker(journal=journal)
    old.advance(900)
    await old.submit(OrderRequest("s1", SYM, "sell", 1, "limit", 1.0, "close"))  # saved, rejected
    behind, ahead = SimulatedBroker(journal=journal), SimulatedBroker(journal=journal)
    behind.advance(500)
    ahead.advance(1_200)
    assert (await behind.clock_us(), await ahead.clock_us()) == (900, 1_200)


async def test_a_broker_rebuilt_from_the_journal_has_the_same_account() -> None:
    journal = MemoryJournal()
    old = SimulatedBroker(cash=10_000, journal=journal)
    old.advance(900)
    old.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    await old.submit(buy("o1", qty=2))
    await old.submit(buy("o2", qty=1, limit=0.90))  # rests below the ask
    await old.submit(OrderRequest("s1", SYM, "sell", 9, "limit", 1.0, "close"))  # rejected
    new = SimulatedBroker(cash=99.0, journal=journal)  # the journal's cash wins
    assert new.cash == pytest.approx(old.cash) and new.cash == pytest.approx(10_000 - 210 - 1.30)
    assert await new.positions() == await old.positions()
    assert await new.open_orders() == await old.open_orders()
    assert [o.client_order_id for o in await new.open_orders()] == ["o2"]
    assert await new.account() == await old.account()
    assert await new.executions(0) == await old.executions(0)
    assert await new.clock_us() == 900
    again = await new.submit(buy("o1", qty=2))  # idempotent on the client order id after a restart
    assert again == await old.order("o1") and (await new.positions())[0].qty == 2
    assert (await new.order("s1")) == (await old.order("s1"))
    filled = new.on_quote(SYM, 0.85, 0.90, 50, 50, 2_000)  # the resting order fills on the new one
    assert [(u.client_order_id, u.event, u.execution_id) for u in filled] == [("o2", "fill", "sim-2.1")]
    assert (await new.positions())[0].qty == 3


async def test_execution_and_order_ids_continue_after_a_restart() -> None:
    journal = MemoryJournal()
    old = SimulatedBroker(journal=journal)
    old.on_quote(SYM, 1.00, 1.05, 10, 3, 1_000)
    await old.submit(buy("o1", qty=5))  # 3 of 5 fill
    new = SimulatedBroker(journal=journal)
    rest = new.on_quote(SYM, 1.00, 1.05, 10, 10, 2_000)
    second = await new.submit(buy("o2", qty=1))
    ids = [x.execution_id for x in await new.executions(0)]
    assert ids == ["sim-1.1", "sim-1.2", "sim-2.1"] and len(set(ids)) == len(ids)
    assert rest[0].execution_id == "sim-1.2" and rest[0].filled_qty == 5
    assert second.broker_order_id == "sim-2"
    third = SimulatedBroker(journal=journal)
    assert (await third.submit(buy("o3", qty=1))).broker_order_id == "sim-3"


async def test_settlement_is_saved() -> None:
    journal = MemoryJournal()
    old = SimulatedBroker(commission_per_contract=0.0, cash=1_000, journal=journal)
    old.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    await old.submit(buy(qty=2))
    old.settle(SYM, 2, 0.30)
    new = SimulatedBroker(journal=journal)
    assert new.cash == pytest.approx(1_000 - 210 + 60) and await new.positions() == []


async def test_no_update_is_published_for_a_change_the_journal_refused() -> None:
    journal = FlakyJournal()
    broker = SimulatedBroker(commission_per_contract=0.0, cash=1_000, journal=journal)
    broker.on_quote(SYM, 1.00, 1.20, 50, 50, 1_000)
    await broker.submit(buy("o1", qty=2, limit=1.10))  # rests
    assert [e.event for e in await drain(broker)] == ["new"]
    saves = len(journal.saved)
    journal.down = True
    with pytest.raises(BrokerError, match="not saved"):
        broker.on_quote(SYM, 1.00, 1.05, 50, 50, 2_000)  # would fill o1
    with pytest.raises(BrokerError, match="not saved"):
        await broker.submit(buy("o2", qty=1))
    assert await drain(broker) == []
    assert len(journal.saved) == saves
    assert broker.cash == 1_000 and await broker.positions() == [] and await broker.executions(0) == []
    assert [o.client_order_id for o in await broker.open_orders()] == ["o1"]
    assert await broker.order("o2") is None
    journal.down = False
    filled = broker.on_quote(SYM, 1.00, 1.05, 50, 50, 3_000)
    assert [(u.event, u.execution_id) for u in filled] == [("fill", "sim-1.1")]
    assert [e.event for e in await drain(broker)] == ["fill"]
    saved = journal.load()
    assert saved is not None and saved["orders"][0]["event"] == "fill"
    assert (await broker.submit(buy("o2", qty=1))).broker_order_id == "sim-2"  # the refused id is free


async def test_done_orders_and_executions_older_than_a_week_are_dropped() -> None:
    journal = MemoryJournal()
    broker = SimulatedBroker(journal=journal)
    broker.on_quote(SYM, 1.00, 1.20, 50, 50, 1_000)
    await broker.submit(buy("old", qty=1, limit=1.20))  # fills at 1_000
    await broker.submit(buy("resting", qty=1, limit=0.50))  # open at 1_000
    broker.advance(1_000 + KEEP_US + 1)
    broker.on_quote(SYM, 1.00, 1.20, 50, 50, 1_000 + KEEP_US + 1)
    await broker.submit(buy("new", qty=1, limit=1.20))
    assert [x.client_order_id for x in await broker.executions(0)] == ["new"]
    assert await broker.order("old") is None
    assert [o.client_order_id for o in await broker.open_orders()] == ["resting"]
    rebuilt = SimulatedBroker(journal=journal)
    assert [x.client_order_id for x in await rebuilt.executions(0)] == ["new"]
    assert rebuilt.known("resting") and not rebuilt.known("old")


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


def test_an_unknown_venue_is_refused_by_name() -> None:
    with pytest.raises(UnknownVenue, match=r"'nyse'.*simulated, alpaca"):
        check_live(Settings(trading=TradingSettings(broker="nyse")), False)


def test_occ_symbols_parse() -> None:
    occ = parse_occ("SPY261124P00587500")
    assert (occ.underlying, occ.expiry, occ.option_type, occ.strike) == (
        "SPY", "2026-11-24", "put", 587.5)
    with pytest.raises(ValueError, match="OCC"):
        parse_occ("SPY")
    with pytest.raises(ValueError):
        OrderRequest("x", SYM, "buy", 1, "limit", None)


async def test_the_journal_is_read_once_and_off_the_event_loop() -> None:
    journal = MemoryJournal()
    first = SimulatedBroker(cash=5_000, journal=journal)
    first.on_quote(SYM, 1.00, 1.05, 50, 50, 1_000)
    await first.submit(buy("j1", 1, 1.05))
    reads: list[str] = []
    load = journal.load

    def counted() -> dict[str, object] | None:
        reads.append(threading.current_thread().name)
        return load()

    journal.load = counted  # type: ignore[method-assign]
    second = SimulatedBroker(cash=1.0, journal=journal)
    await second.load()
    await second.load()
    assert len(reads) == 1 and reads[0] != "MainThread"  # read once, in a worker thread
    assert second.cash == pytest.approx(first.cash) and second.known("j1")
