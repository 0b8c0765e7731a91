"""The broker's update stream back from a drop: the owner reconciles the gap at once, so a
fill made while the stream was down is booked with its execution id and its money, not only
found by polling (which sees orders, not executions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from stocktracker.agents.owner import pump_updates
from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.domain.book import Position
from stocktracker.domain.orders import FILL, OrderRequest, OrderUpdate, StreamResumed
from stocktracker.streams.samples import at
from tests.unit.test_owner_duties import SYMBOL, simulation


class DroppedThenBack(SimulatedBroker):
    """Its stream lost every update while down, then says it is back."""

    async def updates(self) -> AsyncIterator[OrderUpdate | StreamResumed]:  # type: ignore[override]
        while not self._updates.empty():  # the updates of the gap never arrive
            self._updates.get_nowait()
        yield StreamResumed(2.5)
        while True:
            yield await self._updates.get()


async def test_a_fill_made_while_the_stream_was_down_is_booked_when_it_resumes() -> None:
    sim, _ = simulation()
    broker = DroppedThenBack()
    sim.broker = broker
    broker.advance(at(15, 0))
    broker.on_quote(SYMBOL, 1.00, 1.10, 50, 50, at(15, 0))
    bought = await broker.submit(OrderRequest("gap-entry", SYMBOL, "buy", 4, "limit", 1.10))
    assert bought.event == FILL
    sim._due = [0.0] * len(sim.app.timers)  # as run() sets them
    pump = asyncio.create_task(pump_updates(sim))
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            await sim._until(None)
            if sim.tables.positions.get(SYMBOL):
                break
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
    position = Position.from_record(SYMBOL, sim.tables.positions.get(SYMBOL))
    assert position.qty == 4
    assert round(position.commission, 2) == 2.60
    [execution] = await broker.executions(0)
    assert execution.execution_id in position.executions, "booked by the broker's execution id"
