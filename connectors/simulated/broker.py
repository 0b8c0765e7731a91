"""Simulated broker: fills from the cached quote with spread, slippage and commission.

Idempotent on ``client_order_id`` like a real broker: the same id never fills twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.fills import SimFill, simulate_fill


@dataclass
class SimulatedBroker:
    """In-process broker used by the demo, the tests and backtests."""

    slippage: float = 0.01
    commission_per_contract: float = 0.65
    name: str = "simulated"
    _seen: dict[str, SimFill | None] = field(default_factory=dict)

    def submit(self, client_order_id: str, side: str, qty: int, order_type: str,
               limit_price: float | None, bid: float, ask: float) -> SimFill | None:
        """Execute an order against a quote; a repeated ``client_order_id`` returns the
        first outcome without filling again."""
        if client_order_id in self._seen:
            return self._seen[client_order_id]
        fill = simulate_fill(side, qty, order_type, limit_price, bid, ask, self.slippage,
                             self.commission_per_contract)
        self._seen[client_order_id] = fill
        return fill

    def known(self, client_order_id: str) -> bool:
        """True if the broker has seen this client order id."""
        return client_order_id in self._seen
