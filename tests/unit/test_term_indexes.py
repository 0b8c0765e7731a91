"""The owner's in-memory indexes over the trading tables (open positions, open entry orders,
the chain) are rebuilt from the tables at each term: while another worker owned the account
the tables moved on through their changelogs, not through this worker's agents, and a stale
index would hide a position from the exits or an entry from its timeout."""

from __future__ import annotations

import asyncio

from stocktracker.agents.orders import OpenEntries, is_open_entry, store_order
from stocktracker.agents.owner import run_term
from stocktracker.domain.book import Position
from stocktracker.domain.order_record import OrderRecord
from stocktracker.streams.samples import at
from tests.unit.test_owner_duties import SYMBOL, simulation


def entry(coid: str, status: str, intent: str = "open") -> dict[str, object]:
    return {"client_order_id": coid, "intent": intent, "status": status, "qty": 2,
            "filled_qty": 0, "event_time": at(15, 0)}


def test_open_entries_are_the_opening_orders_the_broker_may_still_fill() -> None:
    table = {"a": entry("a", "new"), "b": entry("b", "fill"), "c": entry("c", "partial_fill"),
             "x": entry("x", "new", intent="close"), "n": None}
    index = OpenEntries(table)
    assert index.all() == ["a", "c"]
    index.update("a", entry("a", "canceled"))
    index.update("d", entry("d", "pending"))
    assert index.all() == ["c", "d"]
    table["e"] = entry("e", "new")  # behind its back, as a changelog writes
    assert index.all() == ["c", "d"]
    index.reset()
    assert index.all() == ["a", "c", "e"], "rebuilt from the table as it is now"
    assert not is_open_entry(None)


async def test_store_order_keeps_the_table_and_the_index_together() -> None:
    sim, _ = simulation()
    order = OrderRecord.entry("s1", "sig-1", "SPY", SYMBOL, "call", 590.0, "2026-11-24", 2,
                              "limit", 1.10, "simulated", "", at(15, 0), {})
    store_order(sim, order)
    assert sim.tables.orders["s1"]["status"] == "pending" and sim.open_entries.all() == ["s1"]
    store_order(sim, order.failed("submit failed: the broker is down"))
    assert sim.open_entries.all() == []


async def test_a_new_term_sees_what_another_owner_left_in_the_tables() -> None:
    sim, _ = simulation()
    sim.reconciled.clear()
    # this worker owned the account before: its indexes were built then
    assert sim.open_positions.all() == [] and sim.open_entries.all() == []
    assert sim.chain_index.chain("SPY") == []
    # another owner traded meanwhile: the changelogs brought the tables here, not the agents
    sim.tables.positions[SYMBOL] = Position(SYMBOL, "SPY", 2, 1.10, entry_order="other",
                                            opened_us=at(15, 0)).to_record()
    sim.tables.orders["other"] = entry("other", "partial_fill")
    sim.tables.quotes[SYMBOL] = {"symbol": SYMBOL, "underlying": "SPY", "bid": 1.0, "ask": 1.1,
                                 "bid_size": 5, "ask_size": 5, "option_type": "call",
                                 "event_time": at(15, 0)}
    assert sim.open_positions.all() == [], "an index is stale until the term rebuilds it"
    term = asyncio.create_task(run_term(sim))
    try:
        await asyncio.wait_for(sim.reconciled.wait(), 10)
        assert sim.open_positions.all() == [SYMBOL]
        assert sim.open_entries.all() == ["other"]
        assert [q["symbol"] for q in sim.chain_index.chain("SPY")] == [SYMBOL]
    finally:
        term.cancel()
        await asyncio.gather(term, return_exceptions=True)
