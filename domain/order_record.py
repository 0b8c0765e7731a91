"""The ``Order`` record: one type for every state of an order, parsed once. Pure.

An entry is made by the execute agent (:meth:`OrderRecord.entry`), an exit by the exits
and control agents (:meth:`OrderRecord.exit`), an order this worker never sent (before a
restart, or by hand) from the broker's update (:meth:`OrderRecord.unknown`); each broker
update moves it on (:meth:`OrderRecord.moved`). The ``orders`` topic carries
:meth:`to_record`, the orders table :meth:`table_record` (the same, without the trace).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from stocktracker.domain.orders import OrderUpdate, parse_occ

STATUS = {"new": "new", "partial_fill": "partial_fill", "fill": "filled", "canceled": "canceled",
          "rejected": "rejected", "expired": "expired"}
"""Our status for each broker event (``pending``: sent, not yet acknowledged; ``error``:
the submit failed)."""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the ``orders`` topic and table carry it."""

    client_order_id: str
    signal_id: str
    underlying: str
    symbol: str
    side: str
    option_type: str | None
    strike: float | None
    expiry: str | None
    qty: int
    order_type: str
    limit_price: float | None
    status: str
    reason: str | None
    broker: str
    intent: str = "open"
    filled_qty: int = 0
    filled_avg_price: float = 0.0
    broker_order_id: str = ""
    sizing: str = ""
    event_time: int = 0
    trace: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OrderRecord:
        """From a decoded ``Order`` record or a table value (missing trace: empty)."""
        known = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        return cls(**{**known, "trace": dict(record.get("trace") or {})})

    def to_record(self) -> dict[str, Any]:
        """The ``Order`` record."""
        return {**asdict(self), "trace": dict(self.trace)}

    def table_record(self) -> dict[str, Any]:
        """What the orders table keeps (the trace stays on the topic)."""
        record = asdict(self)
        del record["trace"]
        return record

    @classmethod
    def entry(cls, client_order_id: str, signal_id: str, underlying: str, symbol: str,
              option_type: str | None, strike: float | None, expiry: str | None, qty: int,
              order_type: str, limit_price: float | None, broker: str, sizing: str,
              event_time: int, trace: Mapping[str, int], reasons: tuple[str, ...] = (),
              choice: str = "") -> OrderRecord:
        """A buy to open; ``rejected`` with ``reasons`` when the risk checks refused it,
        else ``pending`` with ``choice`` (why this contract) as its reason."""
        return cls(client_order_id, signal_id, underlying, symbol, "buy", option_type, strike,
                   expiry, qty, order_type, limit_price, "rejected" if reasons else "pending",
                   "; ".join(reasons) or choice or None, broker,
                   "open", sizing=sizing, event_time=event_time, trace=dict(trace))

    @classmethod
    def exit(cls, client_order_id: str, symbol: str, qty: int, limit_price: float | None,
             reason: str, broker: str, event_time: int) -> OrderRecord:
        """A sell to close (at ``limit_price``, or at market when None)."""
        occ = parse_occ(symbol)
        return cls(client_order_id, "", occ.underlying, symbol, "sell", occ.option_type,
                   occ.strike, occ.expiry, qty, "limit" if limit_price else "market",
                   limit_price, "pending", reason, broker, "close", event_time=event_time)

    @classmethod
    def unknown(cls, update: OrderUpdate) -> OrderRecord:
        """An order this worker did not send (before a restart, or by hand)."""
        occ = parse_occ(update.symbol)
        return cls(update.client_order_id, "", occ.underlying, update.symbol, update.side,
                   occ.option_type, occ.strike, occ.expiry, update.qty, "limit", None, "",
                   None, "", "open" if update.side == "buy" else "close",
                   broker_order_id=update.broker_order_id, event_time=update.at_us)

    def moved(self, update: OrderUpdate, broker: str, at_us: int) -> OrderRecord:
        """This order after the broker's ``update`` (seen at wall-clock ``at_us``)."""
        return replace(self, status=STATUS.get(update.event, update.event),
                       reason=update.reason or self.reason, filled_qty=update.filled_qty,
                       filled_avg_price=update.filled_avg_price,
                       broker_order_id=update.broker_order_id, broker=broker,
                       event_time=max(self.event_time, update.at_us),
                       trace={**self.trace, f"broker_{update.event}": at_us})

    def failed(self, reason: str) -> OrderRecord:
        """The submit failed: status ``error`` and why."""
        return replace(self, status="error", reason=reason)
