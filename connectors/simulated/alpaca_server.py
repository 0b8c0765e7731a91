"""A local stand-in for Alpaca's trading API, options market data and trade-updates stream.

It answers in Alpaca's own JSON shapes, so the real alpaca-py clients talk to it unchanged
(only their URL overrides differ): ``TradingClient(url_override=...)``,
``OptionHistoricalDataClient(url_override=...)``, ``StockHistoricalDataClient(...)`` and
``TradingStream(url_override=ws://.../stream)``. One port serves all of them:

- trading (``/v2``): ``GET /v2/account``, ``POST /v2/orders``, ``GET /v2/orders``,
  ``GET /v2/orders/{id}``, ``GET /v2/orders:by_client_order_id``,
  ``DELETE /v2/orders/{id}``, ``GET /v2/positions``, ``GET /v2/options/contracts``,
  ``GET /v2/clock``, ``GET /v2/account/activities/FILL`` (and ``/v2/account/activities``
  with ``activity_types``): the fills, one activity per execution, whose id ends with the
  ``execution_id`` its trade update carried;
- market data: ``GET /v1beta1/options/snapshots/{underlying}`` (the option chain) and
  ``GET /v2/stocks/quotes/latest``;
- ``/stream``: the trade-updates websocket (JSON messages, sent as binary frames like
  Alpaca's: ``authenticate``, then ``listen`` to ``trade_updates``).

State lives in :class:`PaperAccount` (pure: no I/O, time from a clock argument): cash,
orders, positions, the option quotes orders fill against, contracts, greeks. Marketable
orders fill at the touch when a quote is there, partially when the touch shows fewer
contracts than the order wants (the size is used up); a resting limit order fills when a
later quote (:meth:`AlpacaServer.set_quote`) crosses it.

Time is ``PaperAccount.clock`` (tests pin it): orders, fills, activities and ``/v2/clock``
all read it.

Faults a test can inject (all thread-safe; see :class:`AlpacaServer`): ``fail_next`` (429,
5xx, before or after the order is accepted), ``accept_then_timeout``, ``reject_next``,
``drop_stream``, ``replay`` (an order's trade updates sent again, identical, as Alpaca does),
``garble_next`` (a trade update sent unreadable). Every request is kept in ``requests`` for
assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web

from connectors.simulated.serving import HOST, LocalServer, in_thread, run_until_killed
from domain.orders import parse_occ

Json = dict[str, Any]
MULTIPLIER = 100
OPEN = ("new", "partially_filled", "accepted", "pending_new", "pending_cancel", "held")
_NAMESPACE = uuid.UUID("7b0c1c1e-5a4e-4b7e-9a51-3c0b1d7a1f00")
NEW_YORK = ZoneInfo("America/New_York")
ACTIVITIES_PAGE_MAX = 100
GARBLES = ("json", "order", "qty", "filled_qty")
ACTIVITY_TYPES = frozenset({
    "FILL", "TRANS", "MISC", "ACATC", "ACATS", "CFEE", "CSD", "CSW", "DIV", "DIVCGL", "DIVCGS",
    "DIVFEE", "DIVFT", "DIVNRA", "DIVROC", "DIVTW", "DIVTXEX", "FEE", "INT", "INTNRA", "INTTW",
    "JNL", "JNLC", "JNLS", "MA", "NC", "OPASN", "OPEXP", "OPXRC", "PTC", "PTR", "REORG", "SC",
    "SSO", "SSP"})
"""Alpaca's account activity types (only ``FILL`` has entries here)."""


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _num(x: float) -> str:
    """A decimal as Alpaca writes it (a string, no float noise)."""
    return f"{round(x, 6):g}" if abs(x) < 1e15 else str(x)


def _error(status: int, message: str, code: int | None = None) -> web.Response:
    return web.json_response({"code": code or status * 100_000 + 10_000, "message": message},
                             status=status)


@dataclass
class Touch:
    """The top of book of one symbol."""

    bid: float
    ask: float
    bid_size: int
    ask_size: int
    at: datetime


class ApiRefusal(Exception):
    """An HTTP error answer (status, Alpaca's message)."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or status * 100_000 + 10_000


@dataclass
class PaperAccount:
    """A paper account as Alpaca keeps it. Pure: methods return JSON-ready dicts.

    Attributes
    ----------
    cash:
        Dollars; buys take price × qty × 100, sells give it back.
    orders:
        Alpaca order objects by id, in submission order.
    positions:
        ``symbol -> (qty, avg_entry_price)``.
    quotes, stock_quotes:
        The touch of option contracts and of underlyings.
    greeks:
        ``symbol -> {"iv": ..., "delta": ..., ...}`` served with the chain snapshot (a
        symbol without them gets a snapshot without greeks and IV).
    contracts:
        Option contract objects by symbol.
    events:
        Every trade-update ``data`` object, in order.
    on_event:
        Called with every trade-update ``data`` object (the server streams them).
    fills:
        Every execution as a ``FILL`` account activity, in order.
    """

    cash: float = 100_000.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    orders: dict[str, Json] = field(default_factory=dict)
    positions: dict[str, tuple[int, float]] = field(default_factory=dict)
    quotes: dict[str, Touch] = field(default_factory=dict)
    stock_quotes: dict[str, Touch] = field(default_factory=dict)
    greeks: dict[str, dict[str, float]] = field(default_factory=dict)
    contracts: dict[str, Json] = field(default_factory=dict)
    events: list[Json] = field(default_factory=list)
    fills: list[Json] = field(default_factory=list)
    on_event: Callable[[Json], None] = field(default=lambda data: None)
    account_id: str = "5f0b5e4a-4b1f-4c8e-9e1d-2a6c4b8f1a01"
    _by_coid: dict[str, str] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # ---- orders -----------------------------------------------------------------------------
    def submit(self, body: Json) -> Json:
        """Accept an order (the answer is its state at acceptance) and fill what it can.

        Raises
        ------
        ApiRefusal
            422 for a malformed order or a ``client_order_id`` already used, 403 for
            insufficient buying power or quantity.
        """
        symbol = str(body.get("symbol") or "")
        try:
            parse_occ(symbol)
        except ValueError:
            raise ApiRefusal(422, f'asset "{symbol}" not found') from None
        coid = str(body.get("client_order_id") or uuid.uuid4())
        if coid in self._by_coid:
            raise ApiRefusal(422, "client_order_id must be unique", 40010001)
        side, kind = body.get("side"), body.get("type")
        if side not in ("buy", "sell") or kind not in ("limit", "market"):
            raise ApiRefusal(422, "invalid order: side must be buy/sell, type limit/market")
        if body.get("time_in_force") != "day":
            raise ApiRefusal(422, "options orders must be day orders (time_in_force=day)", 42210000)
        qty_f = float(body.get("qty") or 0)
        if qty_f <= 0 or qty_f != int(qty_f):
            raise ApiRefusal(422, "qty must be a positive whole number of contracts", 40010001)
        qty = int(qty_f)
        limit = float(body["limit_price"]) if kind == "limit" and body.get("limit_price") else None
        if kind == "limit" and (limit is None or limit <= 0):
            raise ApiRefusal(422, "limit_price is required for limit orders", 40010001)
        self._check_power(symbol, side, qty, limit)
        now = self.clock()
        order_id = str(uuid.uuid5(_NAMESPACE, f"{self.account_id}:{next(self._ids)}"))
        intent = body.get("position_intent") or ("buy_to_open" if side == "buy" else "sell_to_close")
        order = {
            "id": order_id, "client_order_id": coid, "created_at": _iso(now),
            "updated_at": _iso(now), "submitted_at": _iso(now), "filled_at": None,
            "expired_at": None, "expires_at": _iso(now.replace(hour=20, minute=0, second=0)),
            "canceled_at": None, "failed_at": None, "replaced_at": None, "replaced_by": None,
            "replaces": None, "asset_id": str(uuid.uuid5(_NAMESPACE, symbol)), "symbol": symbol,
            "asset_class": "us_option", "notional": None, "qty": str(qty), "filled_qty": "0",
            "filled_avg_price": None, "order_class": "simple", "order_type": kind, "type": kind,
            "side": side, "position_intent": intent, "time_in_force": "day",
            "limit_price": _num(limit) if limit is not None else None, "stop_price": None,
            "status": "new", "extended_hours": False, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None, "subtag": None, "source": None,
        }
        self.orders[order_id] = order
        self._by_coid[coid] = order_id
        accepted = dict(order)
        self._event("new", order)
        self._match(order)
        return accepted

    def reject(self, order_id: str) -> None:
        """Reject an accepted order after the fact (an exchange or risk-desk rejection)."""
        order = self.orders[order_id]
        now = self.clock()
        order.update(status="rejected", failed_at=_iso(now), updated_at=_iso(now))
        self._event("rejected", order)

    def cancel(self, order_id: str) -> None:
        """Cancel an open order.

        Raises
        ------
        ApiRefusal
            404 for an unknown id, 422 for an order that is done.
        """
        order = self.orders.get(order_id)
        if order is None:
            raise ApiRefusal(404, "order not found", 40410000)
        if order["status"] not in OPEN:
            raise ApiRefusal(422, f"order is not cancelable (status {order['status']})", 42210000)
        now = self.clock()
        order.update(status="canceled", canceled_at=_iso(now), updated_at=_iso(now))
        self._event("canceled", order)

    def expire_all(self) -> None:
        """The close: every open day order expires."""
        for order in self.orders.values():
            if order["status"] in OPEN:
                now = self.clock()
                order.update(status="expired", expired_at=_iso(now), updated_at=_iso(now))
                self._event("expired", order)

    def order(self, order_id: str) -> Json:
        """An order by id (404 when unknown)."""
        if order_id not in self.orders:
            raise ApiRefusal(404, "order not found", 40410000)
        return dict(self.orders[order_id])

    def order_by_coid(self, coid: str) -> Json:
        """An order by client order id (404 when unknown)."""
        if coid not in self._by_coid:
            raise ApiRefusal(404, f"order not found for {coid}", 40410000)
        return self.order(self._by_coid[coid])

    def list_orders(self, status: str = "open", limit: int = 50) -> list[Json]:
        """Orders, newest first: ``open``, ``closed`` or ``all``."""
        chosen = [o for o in self.orders.values()
                  if status == "all" or (o["status"] in OPEN) == (status == "open")]
        return [dict(o) for o in reversed(chosen)][:limit]

    # ---- market -----------------------------------------------------------------------------
    def set_quote(self, symbol: str, bid: float, ask: float, bid_size: int = 10,
                  ask_size: int = 10) -> None:
        """A new touch for an option; resting orders that it crosses fill (oldest first)."""
        self.quotes[symbol] = Touch(bid, ask, bid_size, ask_size, self.clock())
        for order in list(self.orders.values()):
            if order["symbol"] == symbol:
                self._match(order)

    def add_contract(self, symbol: str, open_interest: int | None = None,
                     close_price: float | None = None) -> Json:
        """List an option contract (``GET /v2/options/contracts``)."""
        occ = parse_occ(symbol)
        day = date.fromisoformat(occ.expiry)
        contract = {
            "id": str(uuid.uuid5(_NAMESPACE, symbol)), "symbol": symbol,
            "name": f"{occ.underlying} {day:%b %d %Y} {occ.strike:g} {occ.option_type.title()}",
            "status": "active", "tradable": True, "expiration_date": occ.expiry,
            "root_symbol": occ.underlying, "underlying_symbol": occ.underlying,
            "underlying_asset_id": str(uuid.uuid5(_NAMESPACE, occ.underlying)),
            "type": occ.option_type, "style": "american", "strike_price": _num(occ.strike),
            "size": "100", "open_interest": None if open_interest is None else str(open_interest),
            "open_interest_date": None if open_interest is None else occ.expiry,
            "close_price": None if close_price is None else _num(close_price),
            "close_price_date": None if close_price is None else occ.expiry,
        }
        self.contracts[symbol] = contract
        return contract

    def contracts_page(self, params: dict[str, str], page_size: int) -> Json:
        """One page of ``GET /v2/options/contracts`` (``page_token`` is an offset)."""
        wanted = set(filter(None, params.get("underlying_symbols", "").split(",")))
        found = [c for c in self.contracts.values()
                 if (not wanted or c["underlying_symbol"] in wanted)
                 and _in_dates(c["expiration_date"], params)
                 and params.get("type", c["type"]) == c["type"]
                 and params.get("status", "active") == c["status"]
                 and params.get("root_symbol", c["root_symbol"]) == c["root_symbol"]
                 and _in_strikes(float(c["strike_price"]), params)]
        start = int(params.get("page_token") or 0)
        size = min(int(params.get("limit") or 100), 10_000, page_size)
        page = found[start:start + size]
        more = start + size < len(found)
        return {"option_contracts": page, "next_page_token": str(start + size) if more else None}

    def snapshots_page(self, underlying: str, params: dict[str, str], page_size: int) -> Json:
        """One page of ``GET /v1beta1/options/snapshots/{underlying}``."""
        rows = []
        for symbol, touch in self.quotes.items():
            try:
                occ = parse_occ(symbol)
            except ValueError:
                continue
            if occ.underlying != underlying or not _in_dates(occ.expiry, params) \
                    or params.get("type", occ.option_type) != occ.option_type \
                    or not _in_strikes(occ.strike, params):
                continue
            snap: Json = {"latestQuote": _quote_json(touch, "C")}
            extra = self.greeks.get(symbol)
            if extra:
                if "iv" in extra:
                    snap["impliedVolatility"] = extra["iv"]
                if "delta" in extra:
                    snap["greeks"] = {k: extra.get(k, 0.0)
                                      for k in ("delta", "gamma", "rho", "theta", "vega")}
            rows.append((symbol, snap))
        rows.sort()
        start = int(params.get("page_token") or 0)
        size = min(int(params.get("limit") or 100), 1000, page_size)
        page = dict(rows[start:start + size])
        more = start + size < len(rows)
        return {"snapshots": page, "next_page_token": str(start + size) if more else None}

    def latest_stock_quotes(self, symbols: str) -> Json:
        """``GET /v2/stocks/quotes/latest``."""
        return {"quotes": {s: _quote_json(self.stock_quotes[s], "V")
                           for s in symbols.split(",") if s in self.stock_quotes}}

    # ---- account ----------------------------------------------------------------------------
    def fills_page(self, params: dict[str, str]) -> list[Json]:
        """One page of ``GET /v2/account/activities/FILL``: ``after``/``until`` (a date or
        a time, exclusive), ``order_id``, ``direction`` (``desc`` unless ``asc``),
        ``page_size`` (100 at most) and ``page_token`` (the id of the last activity of the
        previous page).

        Raises
        ------
        ApiRefusal
            422 for a time or page token it cannot read.
        """
        after, until = _moment(params.get("after")), _moment(params.get("until"))
        chosen = [a for a in self.fills
                  if (after is None or _at(a) > after) and (until is None or _at(a) < until)
                  and params.get("order_id", a["order_id"]) == a["order_id"]]
        if params.get("direction", "desc") != "asc":
            chosen.reverse()
        token = params.get("page_token")
        if token:
            ids = [a["id"] for a in chosen]
            if token not in ids:
                raise ApiRefusal(422, f"invalid page_token {token}", 40010001)
            chosen = chosen[ids.index(token) + 1:]
        size = min(int(params.get("page_size") or ACTIVITIES_PAGE_MAX), ACTIVITIES_PAGE_MAX)
        return [dict(a) for a in chosen[:size]]

    def clock_json(self) -> Json:
        """``GET /v2/clock``: times in New York, as Alpaca gives them (weekdays 9:30-16:00;
        no holidays)."""
        now = self.clock().astimezone(NEW_YORK)
        opens, closes = _session(now.date())
        is_open = now.weekday() < 5 and opens <= now < closes
        next_open = opens if now < opens and now.weekday() < 5 else _session(_next_weekday(now.date()))[0]
        next_close = closes if now < closes and now.weekday() < 5 else _session(next_open.date())[1]
        return {"timestamp": now.isoformat(), "is_open": is_open,
                "next_open": next_open.isoformat(), "next_close": next_close.isoformat()}

    def mark(self, symbol: str) -> float:
        """The mid of the symbol's quote (its average price when none)."""
        touch = self.quotes.get(symbol)
        if touch is not None and touch.bid > 0 and touch.ask > 0:
            return (touch.bid + touch.ask) / 2
        return self.positions.get(symbol, (0, 0.0))[1]

    def buying_power(self) -> float:
        """Cash less what open buy orders may still spend."""
        reserved = 0.0
        for o in self.orders.values():
            if o["status"] in OPEN and o["side"] == "buy":
                left = int(o["qty"]) - int(o["filled_qty"])
                price = float(o["limit_price"]) if o["limit_price"] else self._ask(o["symbol"])
                reserved += left * price * MULTIPLIER
        return self.cash - reserved

    def account_json(self) -> Json:
        """``GET /v2/account``."""
        long_value = sum(q * self.mark(s) * MULTIPLIER for s, (q, _) in self.positions.items() if q > 0)
        short_value = sum(q * self.mark(s) * MULTIPLIER for s, (q, _) in self.positions.items() if q < 0)
        equity = self.cash + long_value + short_value
        power = _num(round(self.buying_power(), 2))
        return {
            "id": self.account_id, "account_number": "PA3LOCAL0001", "status": "ACTIVE",
            "crypto_status": "ACTIVE", "currency": "USD", "buying_power": power,
            "regt_buying_power": power, "non_marginable_buying_power": power,
            "options_buying_power": power, "cash": _num(round(self.cash, 2)),
            "accrued_fees": "0", "pending_transfer_in": "0", "portfolio_value": _num(round(equity, 2)),
            "pattern_day_trader": False, "trading_blocked": False, "transfers_blocked": False,
            "account_blocked": False, "created_at": "2024-01-02T15:00:00Z",
            "trade_suspended_by_user": False, "multiplier": "1", "shorting_enabled": False,
            "equity": _num(round(equity, 2)), "last_equity": _num(round(equity, 2)),
            "long_market_value": _num(round(long_value, 2)),
            "short_market_value": _num(round(short_value, 2)), "initial_margin": "0",
            "maintenance_margin": "0", "last_maintenance_margin": "0", "sma": "0",
            "options_approved_level": 2, "options_trading_level": 2,
        }

    def positions_json(self) -> list[Json]:
        """``GET /v2/positions``."""
        out = []
        for symbol, (qty, avg) in sorted(self.positions.items()):
            if qty == 0:
                continue
            mark = self.mark(symbol)
            cost, value = qty * avg * MULTIPLIER, qty * mark * MULTIPLIER
            out.append({
                "asset_id": str(uuid.uuid5(_NAMESPACE, symbol)), "symbol": symbol, "exchange": "",
                "asset_class": "us_option", "asset_marginable": False, "qty": str(qty),
                "avg_entry_price": _num(avg), "side": "long" if qty > 0 else "short",
                "market_value": _num(round(value, 2)), "cost_basis": _num(round(cost, 2)),
                "unrealized_pl": _num(round(value - cost, 2)),
                "unrealized_plpc": _num(round((value - cost) / cost, 4)) if cost else "0",
                "unrealized_intraday_pl": _num(round(value - cost, 2)),
                "unrealized_intraday_plpc": "0", "current_price": _num(mark),
                "lastday_price": _num(mark), "change_today": "0", "qty_available": str(qty),
            })
        return out

    # ---- internals --------------------------------------------------------------------------
    def _ask(self, symbol: str) -> float:
        touch = self.quotes.get(symbol)
        return touch.ask if touch else 0.0

    def _check_power(self, symbol: str, side: str, qty: int, limit: float | None) -> None:
        if side == "sell":
            held = self.positions.get(symbol, (0, 0.0))[0]
            selling = sum(int(o["qty"]) - int(o["filled_qty"]) for o in self.orders.values()
                          if o["symbol"] == symbol and o["side"] == "sell" and o["status"] in OPEN)
            available = held - selling
            if qty > available:
                raise ApiRefusal(403, f"insufficient qty available for order (requested: {qty}, "
                                 f"available: {max(available, 0)})", 40310000)
            return
        price = limit if limit is not None else self._ask(symbol)
        if price * qty * MULTIPLIER > self.buying_power():
            raise ApiRefusal(403, "insufficient options buying power", 40310000)

    def _match(self, order: Json) -> None:
        touch = self.quotes.get(order["symbol"])
        if order["status"] not in OPEN or touch is None:
            return
        buy = order["side"] == "buy"
        price, size = (touch.ask, touch.ask_size) if buy else (touch.bid, touch.bid_size)
        limit = float(order["limit_price"]) if order["limit_price"] else None
        if price <= 0 or size <= 0 or (limit is not None and (price > limit if buy else price < limit)):
            return
        filled = int(order["filled_qty"])
        qty = min(int(order["qty"]) - filled, size)
        if buy:
            touch.ask_size -= qty
        else:
            touch.bid_size -= qty
        avg = float(order["filled_avg_price"] or 0.0)
        total = filled + qty
        now = self.clock()
        done = total >= int(order["qty"])
        new_avg = round((avg * filled + price * qty) / total, 6)
        order.update(filled_qty=str(total), filled_avg_price=_num(new_avg),
                     status="filled" if done else "partially_filled", updated_at=_iso(now),
                     filled_at=_iso(now) if done else None)
        self._book(order["symbol"], qty if buy else -qty, price)
        execution_id = str(uuid.uuid4())
        self.fills.append(_fill_activity(order, execution_id, price, qty, now))
        self._event("fill" if done else "partial_fill", order, price, qty, execution_id)

    def _book(self, symbol: str, qty: int, price: float) -> None:
        held, avg = self.positions.get(symbol, (0, 0.0))
        total = held + qty
        if total == 0:
            new_avg = 0.0
        elif held == 0 or (held > 0) == (qty > 0):
            new_avg = (held * avg + qty * price) / total
        else:
            new_avg = avg
        self.positions[symbol] = (total, round(new_avg, 6))
        self.cash -= qty * price * MULTIPLIER

    def _event(self, event: str, order: Json, price: float | None = None,
               qty: int | None = None, execution_id: str | None = None) -> None:
        data: Json = {"event": event, "order": dict(order), "timestamp": order["updated_at"]}
        if price is not None and qty is not None:
            data.update(execution_id=execution_id or str(uuid.uuid4()), price=_num(price),
                        qty=str(qty), position_qty=str(self.positions.get(order["symbol"], (0, 0.0))[0]))
        self.events.append(data)
        self.on_event(data)


def _in_dates(expiry: str, params: dict[str, str]) -> bool:
    return (expiry == params.get("expiration_date", expiry)
            and expiry >= params.get("expiration_date_gte", expiry)
            and expiry <= params.get("expiration_date_lte", expiry))


def _in_strikes(strike: float, params: dict[str, str]) -> bool:
    return (strike >= float(params.get("strike_price_gte", strike))
            and strike <= float(params.get("strike_price_lte", strike)))


def _fill_activity(order: Json, execution_id: str, price: float, qty: int, now: datetime) -> Json:
    """One execution as Alpaca lists it (``activity_type`` ``FILL``): its id is the New York
    time to the millisecond, ``::``, and the execution id."""
    local = now.astimezone(NEW_YORK)
    left = int(order["qty"]) - int(order["filled_qty"])
    return {
        "id": f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}::{execution_id}",
        "activity_type": "FILL", "transaction_time": _iso(now),
        "type": "fill" if left == 0 else "partial_fill", "price": _num(price), "qty": str(qty),
        "side": order["side"], "symbol": order["symbol"], "leaves_qty": str(left),
        "order_id": order["id"], "cum_qty": order["filled_qty"], "order_status": order["status"],
    }


def _at(activity: Json) -> datetime:
    return datetime.fromisoformat(activity["transaction_time"])


def _moment(raw: str | None) -> datetime | None:
    """A query's date (midnight UTC) or time (UTC unless it says otherwise)."""
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiRefusal(422, f"invalid time {raw!r}", 40010001) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _session(day: date) -> tuple[datetime, datetime]:
    return (datetime.combine(day, time(9, 30), NEW_YORK), datetime.combine(day, time(16), NEW_YORK))


def _next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _quote_json(touch: Touch, exchange: str) -> Json:
    return {"t": _iso(touch.at), "bp": touch.bid, "bs": touch.bid_size, "bx": exchange,
            "ap": touch.ask, "as": touch.ask_size, "ax": exchange, "c": "A"}


@dataclass
class Fault:
    """One injected failure: answer ``status`` to ``count`` requests matching ``match``."""

    match: str
    status: int
    count: int
    after_accept: bool = False


_KINDS = {
    "submit": ("POST", "/v2/orders"), "lookup": ("GET", "/v2/orders:by_client_order_id"),
    "cancel": ("DELETE", "/v2/orders/"), "orders": ("GET", "/v2/orders"),
    "account": ("GET", "/v2/account"), "positions": ("GET", "/v2/positions"),
    "contracts": ("GET", "/v2/options/contracts"), "snapshots": ("GET", "/v1beta1/options/snapshots"),
    "stocks": ("GET", "/v2/stocks"), "activities": ("GET", "/v2/account/activities"),
    "clock": ("GET", "/v2/clock"),
}


def _matches(match: str, method: str, path: str) -> bool:
    kind = _KINDS.get(match)
    if kind is None:
        return match in f"{method} {path}"
    if match == "submit":
        return method == "POST" and path == "/v2/orders"
    if match in ("orders", "account"):
        return method == "GET" and path == kind[1]
    return method == kind[0] and path.startswith(kind[1])


class AlpacaServer(LocalServer):
    """The HTTP and websocket front of a :class:`PaperAccount` on a loopback port.

    Use ``async with AlpacaServer() as server`` in a running loop, or
    :func:`serve_in_thread`. Every public method may be called from any thread.

    Parameters
    ----------
    api_key, secret_key:
        The credentials it accepts (``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY`` headers,
        the stream's ``authenticate`` message); anything else gets 401.
    cash:
        The paper account's starting cash.
    page_size:
        Most contracts or snapshots per page whatever the client asks (to test paging).
    """

    def __init__(self, api_key: str = "PKTESTKEY", secret_key: str = "test-secret",
                 cash: float = 100_000.0, port: int = 0, page_size: int = 10_000) -> None:
        self.api_key, self.secret_key = api_key, secret_key
        self.port = port
        self.page_size = page_size
        self.account = PaperAccount(cash=cash, on_event=self._broadcast)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.faults: list[Fault] = []
        self.stream_connections = 0
        self._lock = threading.RLock()
        self._timeouts: list[float] = []
        self._rejects: list[tuple[str, int, bool]] = []
        self._refuse_stream = False
        self._garbles: list[tuple[str, str]] = []
        self.garbled: list[bytes] = []
        self._sockets: dict[web.WebSocketResponse, asyncio.Queue[bytes]] = {}
        self._closing: set[asyncio.Future[bool]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- URLs: ``url`` (LocalServer's) serves the trading and data APIs -----------------------
    @property
    def stream_url(self) -> str:
        """The trade-updates websocket (``TradingStream(url_override=...)``)."""
        return f"ws://{HOST}:{self.port}/stream"

    # ---- test controls ------------------------------------------------------------------------
    def set_quote(self, symbol: str, bid: float, ask: float, bid_size: int = 10,
                  ask_size: int = 10) -> None:
        """Quote an option (resting orders it crosses fill)."""
        with self._lock:
            self.account.set_quote(symbol, bid, ask, bid_size, ask_size)

    def set_greeks(self, symbol: str, iv: float | None = None, delta: float | None = None) -> None:
        """Greeks and IV the chain snapshot reports for ``symbol``."""
        with self._lock:
            extra: dict[str, float] = {}
            if iv is not None:
                extra["iv"] = iv
            if delta is not None:
                extra.update(delta=delta, gamma=0.05, rho=0.01, theta=-0.5, vega=0.02)
            self.account.greeks[symbol] = extra

    def set_stock_quote(self, symbol: str, bid: float, ask: float) -> None:
        """Quote an underlying (``/v2/stocks/quotes/latest``)."""
        with self._lock:
            self.account.stock_quotes[symbol] = Touch(bid, ask, 1, 1, self.account.clock())

    def add_contract(self, symbol: str, open_interest: int | None = None) -> None:
        """List an option contract."""
        with self._lock:
            self.account.add_contract(symbol, open_interest)

    def fail_next(self, match: str, status: int = 500, count: int = 1,
                  after_accept: bool = False) -> None:
        """Answer ``status`` to the next ``count`` requests matching ``match``.

        ``match`` is a kind (``submit``, ``lookup``, ``cancel``, ``orders``, ``account``,
        ``positions``, ``contracts``, ``snapshots``, ``stocks``) or a part of
        ``"METHOD /path"``. With ``after_accept`` (submits only) the order is accepted
        first and the error answered after: the client cannot tell whether it went through.
        """
        with self._lock:
            self.faults.append(Fault(match, status, count, after_accept))

    def accept_then_timeout(self, delay_s: float = 30.0) -> None:
        """Accept the next order, then hold the answer ``delay_s`` (past the client's timeout)."""
        with self._lock:
            self._timeouts.append(delay_s)

    def reject_next(self, reason: str, status: int = 403, asynchronous: bool = False) -> None:
        """Refuse the next order with ``status`` and ``reason``; ``asynchronous``: accept it,
        then reject it on the stream (an exchange rejection)."""
        with self._lock:
            self._rejects.append((reason, status, asynchronous))

    def drop_stream(self, refuse: bool = False) -> None:
        """Close every trade-updates connection; with ``refuse``, refuse new ones until
        :meth:`allow_stream`."""
        with self._lock:
            self._refuse_stream = refuse
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._close_sockets)

    def allow_stream(self) -> None:
        """Accept trade-updates connections again."""
        with self._lock:
            self._refuse_stream = False

    def replay(self, client_order_id: str) -> int:
        """Send every trade update of the order so far again, byte for byte (same
        ``execution_id``s), as Alpaca has been seen to; how many were sent."""
        with self._lock:
            sent = [e for e in self.account.events if e["order"]["client_order_id"] == client_order_id]
            for data in sent:
                self._send(_frame("trade_updates", data))
            return len(sent)

    def garble_next(self, how: str = "qty", event: str = "fill") -> None:
        """Send the next trade update of kind ``event`` unreadable instead (the account's
        state changes as usual), and keep the bytes sent in ``garbled``. ``how``: ``json``
        (cut short), ``order`` (not an order object), ``qty`` (not a number), ``filled_qty``
        (the order's, not a number: the SDK parses it, the adapter cannot convert it)."""
        if how not in GARBLES:
            raise ValueError(f"how must be one of {GARBLES}, not {how!r}")
        with self._lock:
            self._garbles.append((how, event))

    def order_count(self, symbol: str | None = None) -> int:
        """How many orders the account has (of ``symbol``)."""
        with self._lock:
            return sum(1 for o in self.account.orders.values() if symbol in (None, o["symbol"]))

    def count(self, method: str, path_part: str) -> int:
        """How many requests were ``method`` on a path containing ``path_part``."""
        with self._lock:
            return sum(1 for m, p, _ in self.requests if m == method and path_part in p)

    @property
    def subscribers(self) -> int:
        """Trade-updates connections listening now."""
        return len(self._sockets)

    # ---- life ---------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        return await super().__aenter__()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/v2/account", self._get_account)
        r.add_get("/v2/account/activities", self._get_activities)
        r.add_get("/v2/account/activities/{activity_type}", self._get_activities)
        r.add_get("/v2/clock", self._get_clock)
        r.add_post("/v2/orders", self._post_order)
        r.add_get("/v2/orders", self._get_orders)
        r.add_get("/v2/orders:by_client_order_id", self._get_by_coid)
        r.add_get("/v2/orders/{order_id}", self._get_order)
        r.add_delete("/v2/orders/{order_id}", self._delete_order)
        r.add_get("/v2/positions", self._get_positions)
        r.add_get("/v2/options/contracts", self._get_contracts)
        r.add_get("/v1beta1/options/snapshots/{underlying}", self._get_snapshots)
        r.add_get("/v2/stocks/quotes/latest", self._get_stock_quotes)
        r.add_get("/stream", self._stream)
        return app

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        await super().__aexit__(*exc)

    # ---- HTTP -----------------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        if request.path == "/stream":
            return await handler(request)  # type: ignore[no-any-return]
        with self._lock:
            self.requests.append((request.method, request.path, dict(request.query)))
            if request.headers.get("APCA-API-KEY-ID") != self.api_key \
                    or request.headers.get("APCA-API-SECRET-KEY") != self.secret_key:
                return _error(401, "request is not authorized", 40110000)
            fault = self._take_fault(request.method, request.path, after_accept=False)
        if fault is not None:
            return _fault_answer(fault)
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except ApiRefusal as refusal:
            return _error(refusal.status, refusal.message, refusal.code)

    def _take_fault(self, method: str, path: str, after_accept: bool) -> Fault | None:
        for fault in self.faults:
            if fault.after_accept == after_accept and _matches(fault.match, method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _get_account(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.account_json())

    async def _get_activities(self, request: web.Request) -> web.Response:
        kind = request.match_info.get("activity_type")
        kinds = [kind] if kind else request.query.get("activity_types", "FILL").split(",")
        unknown = [k for k in kinds if k not in ACTIVITY_TYPES]
        if unknown:
            raise ApiRefusal(422, f"invalid activity type: {unknown[0]}", 40010001)
        with self._lock:
            page = self.account.fills_page(dict(request.query)) if "FILL" in kinds else []
        return web.json_response(page)

    async def _get_clock(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.clock_json())

    async def _post_order(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            reject = self._rejects.pop(0) if self._rejects else None
            if reject is not None and not reject[2]:
                raise ApiRefusal(reject[1], reject[0])
            order = self.account.submit(body)
            if reject is not None:
                self.account.reject(order["id"])
            late = self._take_fault("POST", "/v2/orders", after_accept=True)
            delay = self._timeouts.pop(0) if self._timeouts else None
        if late is not None:
            return _fault_answer(late)
        if delay is not None:
            await asyncio.sleep(delay)
        return web.json_response(order)

    async def _get_orders(self, request: web.Request) -> web.Response:
        q = request.query
        with self._lock:
            return web.json_response(self.account.list_orders(q.get("status", "open"),
                                                              int(q.get("limit", 50))))

    async def _get_by_coid(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.order_by_coid(request.query.get("client_order_id", "")))

    async def _get_order(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.order(request.match_info["order_id"]))

    async def _delete_order(self, request: web.Request) -> web.Response:
        with self._lock:
            self.account.cancel(request.match_info["order_id"])
        return web.Response(status=204)

    async def _get_positions(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.positions_json())

    async def _get_contracts(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.contracts_page(dict(request.query), self.page_size))

    async def _get_snapshots(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.snapshots_page(
                request.match_info["underlying"], dict(request.query), self.page_size))

    async def _get_stock_quotes(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response(self.account.latest_stock_quotes(request.query.get("symbols", "")))

    # ---- websocket ------------------------------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            refuse = self._refuse_stream
        if refuse:
            return _error(429, "connection limit exceeded")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.stream_connections += 1
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        writer: asyncio.Task[None] | None = None
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    action = json.loads(msg.data)
                except ValueError:
                    await ws.send_bytes(_frame("error", {"code": 400, "msg": "invalid syntax"}))
                    continue
                data = action.get("data") or {}
                if action.get("action") == "authenticate":
                    ok = data.get("key_id") == self.api_key and data.get("secret_key") == self.secret_key
                    await ws.send_bytes(_frame("authorization", {
                        "status": "authorized" if ok else "unauthorized", "action": "authenticate"}))
                    if not ok:
                        break
                elif action.get("action") == "listen":
                    streams = [s for s in data.get("streams", []) if s == "trade_updates"]
                    await ws.send_bytes(_frame("listening", {"streams": streams}))
                    if streams and writer is None:
                        self._sockets[ws] = queue
                        writer = asyncio.create_task(_pump(ws, queue))
        finally:
            self._sockets.pop(ws, None)
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            await ws.close()
        return ws

    def _broadcast(self, data: Json) -> None:
        """Called under the lock from any thread: queue the event (garbled when asked) for
        every listener."""
        frame = _frame("trade_updates", data)
        garble = next((g for g in self._garbles if g[1] == data["event"]), None)
        if garble is not None:
            self._garbles.remove(garble)
            frame = _garbled(garble[0], data)
            self.garbled.append(frame)
        self._send(frame)

    def _send(self, frame: bytes) -> None:
        if self._loop is None:
            return
        for queue in list(self._sockets.values()):
            self._loop.call_soon_threadsafe(queue.put_nowait, frame)

    def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            self._sockets.pop(ws, None)
            task = asyncio.ensure_future(ws.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


async def _pump(ws: web.WebSocketResponse, queue: asyncio.Queue[bytes]) -> None:
    while True:
        frame = await queue.get()
        await ws.send_bytes(frame)


def _frame(stream: str, data: Json) -> bytes:
    return json.dumps({"stream": stream, "data": data}).encode()


def _garbled(how: str, data: Json) -> bytes:
    """A trade update made unreadable (see :meth:`AlpacaServer.garble_next`)."""
    if how == "json":
        return _frame("trade_updates", data)[:-20]
    bad = dict(data)
    if how == "order":
        bad["order"] = "garbage"
    elif how == "qty":
        bad["qty"] = "two"
    else:
        bad["order"] = dict(data["order"], filled_qty="lots")
    return _frame("trade_updates", bad)


def _fault_answer(fault: Fault) -> web.Response:
    if fault.status == 429:
        return _error(429, "rate limit exceeded", 42910000)
    return _error(fault.status, f"local fault {fault.status}")


def serve_in_thread(server: AlpacaServer | None = None) -> AbstractContextManager[AlpacaServer]:
    """Run a server on its own event loop in a daemon thread; stops on exit.

    Its controls (quotes, faults, ``drop_stream``) may be used from the caller's thread.
    """
    return in_thread(server or AlpacaServer(), "Alpaca server")


def main() -> None:
    """``python -m connectors.simulated.alpaca_server --port P``: serve until killed."""
    import argparse

    parser = argparse.ArgumentParser(description="Local Alpaca trading + options data stand-in.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="PKTESTKEY", help="API key id it accepts")
    parser.add_argument("--secret", default="test-secret", help="secret key it accepts")
    parser.add_argument("--cash", type=float, default=100_000.0)
    args = parser.parse_args()
    run_until_killed(AlpacaServer(args.key, args.secret, args.cash, args.port), lambda server: [
        f"ALPACA_TRADING_URL={server.url}", f"ALPACA_DATA_URL={server.url}",
        f"ALPACA_STREAM_URL={server.stream_url}"])


if __name__ == "__main__":
    main()
