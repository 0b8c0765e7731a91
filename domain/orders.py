"""Orders as every broker (Alpaca, the simulated one) takes and reports them. Pure data.

An order is identified by our deterministic ``client_order_id``: a retried or replayed
request with the same id must never open a second position, so a broker adapter that is
unsure whether a submit went through asks for the id before sending again.
"""

from __future__ import annotations

from dataclasses import dataclass

# Order life cycle, as Alpaca's trade updates name the events.
NEW, PARTIAL_FILL, FILL = "new", "partial_fill", "fill"
CANCELED, REJECTED, EXPIRED = "canceled", "rejected", "expired"
TERMINAL = frozenset({FILL, CANCELED, REJECTED, EXPIRED})


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What we ask a broker to do.

    Attributes
    ----------
    client_order_id:
        Ours, deterministic (a hash of the signal id, or of the position and exit reason).
    symbol:
        OCC option symbol (``SPY261124C00590000``).
    side:
        ``buy`` (open) or ``sell`` (close).
    qty:
        Contracts.
    order_type:
        ``limit`` or ``market``.
    limit_price:
        For limit orders.
    intent:
        ``open`` or ``close`` (Alpaca's ``position_intent``: buy_to_open / sell_to_close).
    """

    client_order_id: str
    symbol: str
    side: str
    qty: int
    order_type: str = "limit"
    limit_price: float | None = None
    intent: str = "open"

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        if self.qty <= 0:
            raise ValueError("qty must be positive")
        if self.order_type not in ("limit", "market"):
            raise ValueError(f"order_type must be limit or market, not {self.order_type!r}")
        if self.order_type == "limit" and (self.limit_price is None or self.limit_price <= 0):
            raise ValueError("a limit order needs a positive limit_price")


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One event of an order's life (also the answer to a submit or a lookup).

    Attributes
    ----------
    event:
        ``new`` (accepted), ``partial_fill``, ``fill``, ``canceled``, ``rejected``, ``expired``.
    filled_qty:
        Cumulative contracts filled so far.
    filled_avg_price:
        Average price of what filled (0 when nothing).
    last_fill_qty, last_fill_price:
        The fill this event reports (0 for non-fill events).
    last_fill_commission:
        Commission and fees of that fill, $ (Alpaca charges none on options; the simulated
        broker charges ``TRADING_COMMISSION`` per contract).
    at_us:
        When the broker says it happened, µs since the epoch.
    execution_id:
        The broker's id of the fill this event reports (Alpaca's ``execution_id``; the
        simulated broker makes one); empty for non-fill events and for fills seen only
        by polling an order (the book then dedups on the order's cumulative quantity).
    """

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: str
    qty: int
    event: str
    filled_qty: int = 0
    filled_avg_price: float = 0.0
    last_fill_qty: int = 0
    last_fill_price: float = 0.0
    last_fill_commission: float = 0.0
    reason: str = ""
    at_us: int = 0
    execution_id: str = ""

    @property
    def done(self) -> bool:
        """True when nothing more will happen to the order."""
        return self.event in TERMINAL


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill as the broker lists it afterwards (Alpaca's account activities of type
    ``FILL``; the simulated broker's own list), for reconciliation.

    Attributes
    ----------
    execution_id:
        The broker's id of this fill (the same id its trade update carried).
    client_order_id, broker_order_id:
        The order it filled (ours; the broker's).
    symbol, side:
        OCC symbol; ``buy`` or ``sell``.
    qty, price:
        This fill's contracts and price.
    cum_qty:
        The order's filled quantity after this fill.
    commission:
        $ charged on this fill.
    at_us:
        When it happened (the broker's transaction time), µs since the epoch.
    """

    execution_id: str
    client_order_id: str
    broker_order_id: str
    symbol: str
    side: str
    qty: int
    price: float
    cum_qty: int
    commission: float = 0.0
    at_us: int = 0


@dataclass(frozen=True, slots=True)
class MalformedUpdate:
    """A message from the broker's update stream that could not be read: it goes to
    ``deadletter`` and open orders are polled at once (it may have been a fill)."""

    raw: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class StreamResumed:
    """The broker's update stream is back after a drop: what it missed in the gap is
    reconciled from the broker's executions (polling finds orders, not execution ids)."""

    down_s: float


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    """A position as the broker holds it (for reconciliation)."""

    symbol: str
    qty: int
    avg_entry_price: float


@dataclass(frozen=True, slots=True)
class Account:
    """What sizing and the buying-power check need."""

    equity: float
    buying_power: float
    cash: float


@dataclass(frozen=True, slots=True)
class OccSymbol:
    """The parts of an OCC option symbol (``SPY261124C00590000``)."""

    underlying: str
    expiry: str
    option_type: str
    strike: float


def parse_occ(symbol: str) -> OccSymbol:
    """Split an OCC symbol: root, ``YYMMDD``, ``C``/``P``, strike × 1000 in 8 digits.

    Raises
    ------
    ValueError
        When ``symbol`` is not in that form.
    """
    body = symbol[-15:]
    root = symbol[:-15]
    if not root or len(body) != 15 or not body[:6].isdigit() or body[6] not in "CP" \
            or not body[7:].isdigit():
        raise ValueError(f"not an OCC option symbol: {symbol!r}")
    expiry = f"20{body[0:2]}-{body[2:4]}-{body[4:6]}"
    return OccSymbol(root.strip(), expiry, "call" if body[6] == "C" else "put",
                     int(body[7:]) / 1000)
