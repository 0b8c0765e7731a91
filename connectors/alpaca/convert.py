"""alpaca-py's models to ours and back. Pure: no I/O, no clock (times come in as arguments).

Order life cycle
----------------
Alpaca's order statuses and trade-update events are many; ours are six
(:data:`domain.orders.NEW` ... ``EXPIRED``). The mapping:

- ``fill``/``filled`` → ``fill``; ``partial_fill``/``partially_filled`` → ``partial_fill``;
  ``canceled``, ``expired``, ``rejected`` → themselves;
- ``replaced`` → ``canceled`` (reason ``replaced``: we never replace, so the order we know
  is done);
- everything else (``new``, ``accepted``, ``pending_new``, ``accepted_for_bidding``,
  ``pending_review``, ``held``, ``pending_cancel``, ``pending_replace``, ``done_for_day``,
  ``restated``, ``calculated``, ``stopped``, ``suspended``, ``order_cancel_rejected`` ...)
  is a state in which the order is still alive: ``partial_fill`` when something has filled,
  else ``new``. So a ``pending_cancel`` reports the last known state again, and the
  adapter's de-duplication by ``(client_order_id, event, filled_qty)`` drops it.

The fill an update reports (``last_fill_qty``/``last_fill_price``) is always derived from
the cumulative figures against the previous known state of the order, so a fill that was
missed (a dropped stream, a poll that skipped a partial fill) is still counted exactly once;
the trade update's own ``qty``/``price`` and ``execution_id`` are kept when they agree with
that difference (the update reports exactly one execution), else the execution id is empty.

Executions
----------
A ``FILL`` account activity (``GET /v2/account/activities/FILL``) is one execution::

    {"id": "20261124100000123::<uuid>", "activity_type": "FILL",
     "transaction_time": "2026-11-24T15:00:00.123456Z", "type": "partial_fill",
     "price": "1.1", "qty": "2", "side": "buy", "symbol": "SPY261124C00590000",
     "leaves_qty": "1", "order_id": "<the order's id>", "cum_qty": "2",
     "order_status": "partially_filled"}

Its ``id`` is ``{New York time to the ms}::{uuid}``; the uuid is taken as the execution id
(:func:`execution_id_of`), the id the fill's trade update carries as ``execution_id``.
Alpaca does not document that the two are the same; the local server makes them so.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from alpaca.data.models.snapshots import OptionsSnapshot
from alpaca.trading.enums import OrderSide, PositionIntent, TimeInForce
from alpaca.trading.models import (
    OptionContract,
    OptionContractsResponse,
    Order,
    Position,
    TradeAccount,
    TradeUpdate,
)
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from pydantic import TypeAdapter, ValidationError

from stocktracker.connectors.broker import BrokerError
from stocktracker.domain.contracts import ChainQuote
from stocktracker.domain.orders import (
    CANCELED,
    EXPIRED,
    FILL,
    NEW,
    PARTIAL_FILL,
    REJECTED,
    Account,
    BrokerPosition,
    Execution,
    OrderRequest,
    OrderUpdate,
    parse_occ,
)

_DIRECT = {
    "fill": FILL, "filled": FILL,
    "partial_fill": PARTIAL_FILL, "partially_filled": PARTIAL_FILL,
    "canceled": CANCELED, "expired": EXPIRED, "rejected": REJECTED, "replaced": CANCELED,
}
_INTENT = {
    ("buy", "open"): PositionIntent.BUY_TO_OPEN, ("sell", "close"): PositionIntent.SELL_TO_CLOSE,
    ("sell", "open"): PositionIntent.SELL_TO_OPEN, ("buy", "close"): PositionIntent.BUY_TO_CLOSE,
}


def value(raw: object) -> str:
    """An enum's value, or the string itself (the SDK gives either)."""
    return str(getattr(raw, "value", raw))


def number(raw: object) -> float:
    """A decimal string, a float or ``None`` (0.0) as a float."""
    return 0.0 if raw is None or raw == "" else float(str(raw))


def micros(moment: datetime | None) -> int:
    """µs since the epoch (a naive time is taken as UTC; ``None`` gives 0)."""
    if moment is None:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def event_for(status: str, filled_qty: int) -> str:
    """Our event for an Alpaca order status or trade-update event (see the module doc)."""
    direct = _DIRECT.get(status)
    if direct is not None:
        return direct
    return PARTIAL_FILL if filled_qty > 0 else NEW


_RANK = {NEW: 0, PARTIAL_FILL: 1}


def _rank(update: OrderUpdate) -> tuple[int, int]:
    return update.filled_qty, _RANK.get(update.event, 2)


def progress(state: OrderUpdate, previous: OrderUpdate | None) -> list[OrderUpdate]:
    """What to report for a newly seen ``state`` of an order last reported as ``previous``.

    Nothing when it is not news (an order already done, the same or an older state: a poll
    answer overtaken by the stream, a ``pending_cancel``). Otherwise ``state`` with the fill
    it adds since ``previous`` (``last_fill_qty``/``last_fill_price``); when a terminal state
    other than ``fill`` carries fills never reported (partly filled, then canceled while
    the stream was down), a ``partial_fill`` for them first.

    ``state.last_fill_qty``/``last_fill_price``/``execution_id``, when set (a trade
    update's ``qty``, ``price`` and ``execution_id``), are kept if they match the quantity
    added; else the price is derived from the average prices and the execution id is empty
    (the fill reported is not one execution the broker named).
    """
    if previous is not None and (previous.done or _rank(state) <= _rank(previous)):
        return []
    before_qty = previous.filled_qty if previous else 0
    before_avg = previous.filled_avg_price if previous else 0.0
    added = state.filled_qty - before_qty
    if added <= 0:
        return [_no_fill(state)]
    exact = state.last_fill_qty == added and state.last_fill_price > 0
    if exact:
        price = state.last_fill_price
    else:
        price = (state.filled_avg_price * state.filled_qty - before_avg * before_qty) / added
    filled = replace(state, last_fill_qty=added, last_fill_price=round(price, 4),
                     execution_id=state.execution_id if exact else "")
    if state.event in (FILL, PARTIAL_FILL):
        return [filled]
    return [replace(filled, event=PARTIAL_FILL, reason="", execution_id=""), _no_fill(state)]


def _no_fill(state: OrderUpdate) -> OrderUpdate:
    return replace(state, last_fill_qty=0, last_fill_price=0.0, execution_id="")


def order_state(order: Order, event: str | None = None, at_us: int | None = None) -> OrderUpdate:
    """An Alpaca order's state as an :class:`OrderUpdate` (cumulative fills; no last fill:
    see :func:`progress`).

    Parameters
    ----------
    order:
        As the REST API or a trade update gives it.
    event:
        An Alpaca trade-update event to map instead of ``order.status``.
    at_us:
        When it happened (default: the order's ``updated_at``).
    """
    filled = int(number(order.filled_qty))
    status = value(order.status)
    ours = event_for(event if event is not None and event in _DIRECT else status, filled)
    reason = ""
    if ours == REJECTED:
        reason = "rejected by Alpaca"
    elif ours == CANCELED and "replaced" in (event, status):
        reason = "replaced"
    return OrderUpdate(
        client_order_id=order.client_order_id, broker_order_id=str(order.id),
        symbol=order.symbol or "", side=value(order.side) if order.side else "",
        qty=int(number(order.qty)), event=ours, filled_qty=filled,
        filled_avg_price=number(order.filled_avg_price), reason=reason,
        at_us=at_us if at_us is not None else micros(order.updated_at))


def trade_state(update: TradeUpdate) -> OrderUpdate:
    """A trade-updates message as an order state; a fill's ``qty``/``price`` and
    ``execution_id`` are kept as ``last_fill_qty``/``last_fill_price``/``execution_id`` for
    :func:`progress` to check (other events carry no execution id here, though Alpaca
    sends one on ``new`` too)."""
    state = order_state(update.order, value(update.event), micros(update.timestamp))
    if state.event in (FILL, PARTIAL_FILL) and update.qty and update.price:
        return replace(state, last_fill_qty=int(update.qty), last_fill_price=float(update.price),
                       execution_id=str(update.execution_id or ""))
    return state


def execution_id_of(activity_id: str) -> str:
    """The execution id in a ``FILL`` activity's id (its part after ``::``; the whole id
    when it has none)."""
    return activity_id.rsplit("::", 1)[-1]


def execution(activity: dict[str, Any], client_order_id: str) -> Execution:
    """A ``FILL`` account activity (see the module docstring) as an :class:`Execution`.

    Raises
    ------
    ValueError
        When it is not a ``FILL`` activity or a field is missing or unreadable.
    """
    if activity.get("activity_type") != "FILL":
        raise ValueError(f"not a FILL activity: {activity.get('activity_type')!r}")
    try:
        at = datetime.fromisoformat(str(activity["transaction_time"]))
        side = str(activity["side"])
        return Execution(
            execution_id=execution_id_of(str(activity["id"])), client_order_id=client_order_id,
            broker_order_id=str(activity["order_id"]), symbol=str(activity["symbol"]),
            side="sell" if side.startswith("sell") else side, qty=int(number(activity["qty"])),
            price=number(activity["price"]), cum_qty=int(number(activity["cum_qty"])),
            at_us=micros(at))
    except KeyError as exc:
        raise ValueError(f"FILL activity without {exc}") from None


def rejected(request: OrderRequest, reason: str, at_us: int) -> OrderUpdate:
    """The update for an order Alpaca refused outright (no broker order id)."""
    return OrderUpdate(request.client_order_id, "", request.symbol, request.side, request.qty,
                       REJECTED, reason=reason, at_us=at_us)


def order_request(request: OrderRequest) -> LimitOrderRequest | MarketOrderRequest:
    """Our order as alpaca-py's request: ``day`` (the only time in force Alpaca takes for
    options), ``position_intent`` from side and intent, our ``client_order_id``; a limit
    price in whole cents (options tick in $0.01)."""
    intent = _INTENT[(request.side, request.intent)]
    side = OrderSide.BUY if request.side == "buy" else OrderSide.SELL
    if request.order_type == "limit":
        assert request.limit_price is not None  # OrderRequest checks it
        return LimitOrderRequest(symbol=request.symbol, qty=request.qty, side=side,
                                 time_in_force=TimeInForce.DAY, limit_price=round(request.limit_price, 2),
                                 client_order_id=request.client_order_id, position_intent=intent)
    return MarketOrderRequest(symbol=request.symbol, qty=request.qty, side=side,
                              time_in_force=TimeInForce.DAY,
                              client_order_id=request.client_order_id, position_intent=intent)


def position(held: Position) -> BrokerPosition:
    """A position (short ones negative; Alpaca already signs their ``qty``)."""
    qty = int(number(held.qty))
    if value(held.side) == "short" and qty > 0:
        qty = -qty
    return BrokerPosition(held.symbol, qty, number(held.avg_entry_price))


def account(raw: TradeAccount) -> Account:
    """Equity, buying power (the options one when Alpaca gives it) and cash."""
    power = raw.options_buying_power if raw.options_buying_power is not None else raw.buying_power
    return Account(equity=number(raw.equity), buying_power=number(power), cash=number(raw.cash))


def contracts_page(raw: Any) -> tuple[OptionContractsResponse, dict[str, bool | None]]:
    """A page of ``GET /v2/options/contracts`` (JSON) as alpaca-py's model, and each
    contract's ``ppind`` (in the penny program; ``None`` where the page does not say),
    which the model drops.

    Raises
    ------
    BrokerError
        When the answer is not a page of contracts.
    """
    try:
        page = TypeAdapter(OptionContractsResponse).validate_python(raw)
    except ValidationError as exc:
        raise BrokerError(f"Alpaca answered the contracts request with no contracts: {exc}") from None
    penny: dict[str, bool | None] = {}
    for item in raw.get("option_contracts") or []:
        flag = item.get("ppind")
        penny[str(item["symbol"])] = flag if isinstance(flag, bool) else None
    return page, penny


def chain_quote(symbol: str, contract: OptionContract | None,
                snapshot: OptionsSnapshot | None, penny: bool | None = None) -> ChainQuote | None:
    """A chain-cache entry from a contract (open interest), its snapshot (quote, IV,
    delta) and its penny flag. ``None`` without a quote: a contract nobody quotes is not
    tradable here."""
    if snapshot is None or snapshot.latest_quote is None:
        return None
    quote = snapshot.latest_quote
    if contract is not None:
        option_type = value(contract.type)
        strike = float(contract.strike_price)
        expiry = contract.expiration_date.isoformat()
    else:
        occ = parse_occ(symbol)
        option_type, strike, expiry = occ.option_type, occ.strike, occ.expiry
    open_interest = None
    if contract is not None and contract.open_interest not in (None, ""):
        open_interest = int(number(contract.open_interest))
    iv = snapshot.implied_volatility
    return ChainQuote(
        symbol=symbol, option_type=option_type, strike=strike, expiry=expiry,
        bid=float(quote.bid_price), ask=float(quote.ask_price), quote_us=micros(quote.timestamp),
        bid_size=int(quote.bid_size), ask_size=int(quote.ask_size),
        iv=float(iv) if iv is not None and iv > 0 else None,
        delta=float(snapshot.greeks.delta) if snapshot.greeks is not None else None,
        open_interest=open_interest, volume=None, penny=penny)
