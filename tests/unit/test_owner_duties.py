"""What the account's owner does with no record to drive it, through the live agents run by
the simulation: the clock tick fires the time exit and the entry timeout when no quote
arrives, a refused exit backs off then strands, nothing goes out before reconciliation, and
reconciliation books the executions the book missed, with their money."""

from __future__ import annotations

from typing import Any

from stocktracker.agents.exits import check_positions
from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.domain.book import Position
from stocktracker.domain.exits import STOP_LOSS, TIME_EXIT, exit_order_id
from stocktracker.domain.orders import CANCELED, FILL, OrderRequest
from stocktracker.streams.core.settings import SentimentSettings, Settings
from stocktracker.streams.samples import at
from stocktracker.streams.simulation import Simulation

SYMBOL = "SPY261124C00590000"  # expires on the test day, 2026-11-24 (New York = UTC-5)


def simulation() -> tuple[Simulation, SimulatedBroker]:
    settings = Settings(kafka={"bootstrap_servers": "127.0.0.1:1"},  # type: ignore[arg-type]
                        sentiment=SentimentSettings(_env_file=None, finbert="off",  # type: ignore[call-arg]
                                                    llm_calls_per_minute=0))
    broker = SimulatedBroker()
    sim = Simulation(settings, broker=broker)
    sim.reconciled.set()  # as the owner's term does once the book agrees with the broker
    return sim, broker


def tick_handler(sim: Simulation) -> Any:
    [handler] = [h for stage, _, h in sim._handlers["ticks"] if stage == "exit-timer"]
    return handler


async def hold(sim: Simulation, broker: SimulatedBroker, qty: int, quote_us: int) -> None:
    """The broker holds ``qty`` calls bought at 1.10, the book says so, and the last quote of
    the contract is from ``quote_us``."""
    broker.on_quote(SYMBOL, 1.00, 1.10, 50, 50, quote_us)
    bought = await broker.submit(OrderRequest("st-entry", SYMBOL, "buy", qty, "limit", 1.10))
    assert bought.event == FILL
    sim.tables.positions[SYMBOL] = Position(SYMBOL, "SPY", qty, 1.10, entry_order="st-entry",
                                            opened_us=quote_us).to_record()
    sim.open_positions.update("SPY", SYMBOL, qty)
    sim.tables.quotes[SYMBOL] = {"symbol": SYMBOL, "underlying": "SPY", "bid": 1.00,
                                 "ask": 1.10, "bid_size": 50, "ask_size": 50,
                                 "event_time": quote_us}


async def test_the_time_exit_fires_on_the_clock_with_no_quote_at_market() -> None:
    sim, broker = simulation()
    sim.outcome.records["metrics"], sim.outcome.keys["metrics"] = [], []
    await hold(sim, broker, 3, at(19, 0))  # 14:00 New York, the last quote of the day
    await tick_handler(sim)({"source": "simulated", "event_time": at(20, 5), "trace": {}}, 0)
    assert await broker.order(exit_order_id("st-entry", TIME_EXIT)) is None, "15:05 is too early"
    await tick_handler(sim)({"source": "simulated", "event_time": at(20, 10), "trace": {}}, 0)
    sold = await broker.order(exit_order_id("st-entry", TIME_EXIT))
    assert sold is not None and sold.side == "sell" and sold.qty == 3
    assert sold.event == FILL  # at market: it does not wait for a price from a stale quote
    position = Position.from_record(SYMBOL, sim.tables.positions.get(SYMBOL))
    assert position.stale and position.exit_reason == TIME_EXIT
    [stale] = [m for m in sim.outcome.records["metrics"] if m["name"] == "position_stale"]
    assert stale["value"] == 1.0 and stale["labels"] == {"symbol": SYMBOL}
    assert (await broker.positions()) == []


async def test_a_position_turning_stale_and_fresh_again_is_published_for_the_dashboard() -> None:
    sim, broker = simulation()
    await hold(sim, broker, 3, at(19, 0))
    await tick_handler(sim)({"source": "simulated", "event_time": at(19, 0, 20), "trace": {}}, 0)
    assert sim.outcome.records["positions"] == [], "a fresh quote changes no flag"
    await tick_handler(sim)({"source": "simulated", "event_time": at(19, 1), "trace": {}}, 0)
    [stale] = sim.outcome.records["positions"]
    assert stale["stale"] and not stale["stranded"]
    assert (stale["symbol"], stale["qty"], stale["avg_price"]) == (SYMBOL, 3, 1.10)
    assert stale["mark"] == 1.05 and stale["event_time"] == at(19, 1)  # the cached quote's mid
    assert sim.outcome.keys["positions"] == ["SPY"]
    sim.tables.quotes[SYMBOL] = {**sim.tables.quotes[SYMBOL], "bid": 1.20, "ask": 1.30,
                                 "event_time": at(19, 1, 30)}
    await tick_handler(sim)({"source": "simulated", "event_time": at(19, 1, 40), "trace": {}}, 0)
    fresh = sim.outcome.records["positions"][-1]
    assert len(sim.outcome.records["positions"]) == 2
    assert not fresh["stale"] and fresh["mark"] == 1.25


async def test_a_new_owner_sends_no_exit_before_it_has_reconciled() -> None:
    sim, broker = simulation()
    await hold(sim, broker, 3, at(19, 0))
    sim.reconciled.clear()
    await tick_handler(sim)({"source": "simulated", "event_time": at(20, 10), "trace": {}}, 0)
    assert await broker.order(exit_order_id("st-entry", TIME_EXIT)) is None
    sim.reconciled.set()
    await tick_handler(sim)({"source": "simulated", "event_time": at(20, 10, 1), "trace": {}}, 0)
    assert await broker.order(exit_order_id("st-entry", TIME_EXIT)) is not None


async def test_a_fresh_quote_is_not_flagged_and_its_time_exit_is_a_limit_at_the_bid() -> None:
    sim, broker = simulation()
    await hold(sim, broker, 2, at(20, 9, 50))
    await tick_handler(sim)({"source": "simulated", "event_time": at(20, 10), "trace": {}}, 0)
    position = Position.from_record(SYMBOL, sim.tables.positions.get(SYMBOL))
    assert not position.stale and position.exit_reason == TIME_EXIT
    sent = sim.order_meta[exit_order_id("st-entry", TIME_EXIT)]
    assert sent.order_type == "limit" and sent.limit_price == 1.00


async def test_an_unfilled_entry_is_cancelled_on_the_clock_with_no_quote() -> None:
    sim, broker = simulation()
    broker.on_quote(SYMBOL, 1.00, 1.10, 50, 50, at(15, 0))
    resting = await broker.submit(OrderRequest("st-rest", SYMBOL, "buy", 2, "limit", 0.50))
    sim.tables.orders["st-rest"] = {"client_order_id": "st-rest", "intent": "open",
                                    "status": "new", "qty": 2, "filled_qty": 0,
                                    "event_time": resting.at_us}
    handler = tick_handler(sim)
    await handler({"source": "simulated", "event_time": at(15, 0, 30), "trace": {}}, 0)
    assert (await broker.order("st-rest")).event != CANCELED  # type: ignore[union-attr]
    await handler({"source": "simulated", "event_time": at(15, 1, 1), "trace": {}}, 0)
    assert (await broker.order("st-rest")).event == CANCELED  # type: ignore[union-attr]


async def test_a_refused_exit_is_retried_with_growing_pauses_then_stranded() -> None:
    sim, broker = simulation()
    sim.outcome.records["metrics"], sim.outcome.keys["metrics"] = [], []
    await hold(sim, broker, 1, at(20, 10))
    handler = tick_handler(sim)

    async def tick(now: int) -> Position:
        await handler({"source": "simulated", "event_time": now, "trace": {}}, 0)
        position = Position.from_record(SYMBOL, sim.tables.positions.get(SYMBOL))
        sim.tables.orders[position.exit_order] = {"status": "rejected"}  # the broker's answer
        return position

    now = at(20, 10)
    assert (await tick(now)).exit_attempt == 0
    assert (await tick(now + 1_000_000)).exit_attempt == 0, "sent again without a pause"
    assert (await tick(now + 2_000_000)).exit_attempt == 1
    assert (await tick(now + 5_000_000)).exit_attempt == 1, "the pause did not grow"
    assert (await tick(now + 6_000_000)).exit_attempt == 2
    for attempt in range(3, 6):
        now += 70_000_000  # past the longest pause
        assert (await tick(now)).exit_attempt == attempt
    def told() -> list[dict[str, Any]]:
        return [m for m in sim.outcome.records["metrics"] if m["name"] == "exit_stranded"]

    assert told() == []
    stranded = await tick(now + 70_000_000)
    assert stranded.stranded and stranded.exit_attempt == 5
    [metric] = told()
    assert metric["labels"]["symbol"] == SYMBOL
    [shown] = [r for r in sim.outcome.records["positions"] if r["stranded"]]  # the dashboard's
    assert shown["symbol"] == SYMBOL and shown["qty"] == 1 and shown["stale"]  # no quote since
    assert shown["event_time"] == now + 70_000_000
    await tick(now + 140_000_000)
    assert len(told()) == 1, "the operator is told once"
    assert len([r for r in sim.outcome.records["positions"] if r["stranded"]]) == 1


async def test_reconciliation_books_the_executions_the_book_missed_with_their_money() -> None:
    from stocktracker.agents.orders import reconcile

    sim, broker = simulation()
    broker.advance(at(15, 0))
    broker.on_quote(SYMBOL, 1.00, 1.10, 50, 50, at(15, 0))
    await broker.submit(OrderRequest("st-missed", SYMBOL, "buy", 3, "limit", 1.10))
    broker.advance(at(15, 5))
    broker.on_quote(SYMBOL, 1.60, 1.70, 50, 50, at(15, 5))
    await broker.submit(OrderRequest("sx-missed", SYMBOL, "sell", 3, "limit", 1.60, "close"))
    # the worker died before publishing any of it: its updates are lost, the book knows nothing
    while not broker._updates.empty():
        broker._updates.get_nowait()
    counts = await reconcile(sim)
    sim._due = [0.0] * len(sim.app.timers)  # as run() sets them: timers from here on
    await sim._until(None)
    assert counts["executions"] == 2
    position = Position.from_record(SYMBOL, sim.tables.positions.get(SYMBOL))
    assert position.qty == 0
    assert round(position.realized_pnl, 2) == round(broker.cash - 100_000.0, 2) == 146.10
    assert round(position.commission, 2) == 3.90
    assert position.day == "2026-11-24", "reconciliation must carry the broker's session day"
    assert (await reconcile(sim))["executions"] == 0, "executions the book has are not sent again"


async def test_an_older_quote_arriving_late_moves_no_exit() -> None:
    """A REST snapshot taken before a streamed quote but delivered after it is the past: the
    stop is judged on the newer cached quote, and fires when a newer quote falls."""
    sim, broker = simulation()
    await hold(sim, broker, 2, at(17, 0, 10))  # bought at 1.10; the cached quote 1.00/1.10
    old_snapshot = {"symbol": SYMBOL, "underlying": "SPY", "bid": 0.40, "ask": 0.45,
                    "bid_size": 50, "ask_size": 50, "event_time": at(17, 0, 5)}
    await check_positions(sim, [SYMBOL], at(17, 0, 5), old_snapshot)
    assert await broker.order(exit_order_id("st-entry", STOP_LOSS)) is None
    newer = {**old_snapshot, "event_time": at(17, 0, 20)}
    broker.on_quote(SYMBOL, 0.40, 0.45, 50, 50, at(17, 0, 20))
    await check_positions(sim, [SYMBOL], at(17, 0, 20), newer)
    sold = await broker.order(exit_order_id("st-entry", STOP_LOSS))
    assert sold is not None and sold.side == "sell" and sold.qty == 2
