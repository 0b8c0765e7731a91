"""The paper account behind the local Alpaca server: orders, fills, positions, quotes.

:class:`PaperAccount` keeps what Alpaca keeps for a paper account (pure: no I/O, time from
a clock argument): cash, orders, positions, the option quotes (:class:`Touch`) orders fill
against, contracts, greeks, and the fills as account activities. An order goes as a real
option order goes: answered ``accepted``, then routed (``pending_new``, ``new``) and filled
later (:meth:`PaperAccount.route`); at the close the open ones are ``done_for_day`` and
then ``expired`` (:meth:`PaperAccount.close_day`). Its methods answer in
Alpaca's own JSON shapes; a request Alpaca would refuse raises :class:`ApiRefusal` (the
HTTP status and message the server answers). Marketable orders fill at the touch when a
quote is there, partially when the touch shows fewer contracts than the order wants (the
size is used up); a resting limit order fills when a later quote
(:meth:`PaperAccount.set_quote`) crosses it.

Time is ``PaperAccount.clock`` (tests pin it): orders, fills, activities and ``/v2/clock``
all read it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from stocktracker.domain.orders import parse_occ
from stocktracker.domain.price_steps import PriceSteps

Json = dict[str, Any]
MULTIPLIER = 100
OPEN = ("new", "partially_filled", "accepted", "pending_new", "pending_cancel", "held")
WORKING = ("new", "partially_filled")  # routed to the venue: these fill
_NAMESPACE = uuid.UUID("7b0c1c1e-5a4e-4b7e-9a51-3c0b1d7a1f00")
NEW_YORK = ZoneInfo("America/New_York")
ACTIVITIES_PAGE_MAX = 100


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _num(x: float) -> str:
    """A decimal as Alpaca writes it (a string, no float noise)."""
    return f"{round(x, 6):g}" if abs(x) < 1e15 else str(x)


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
        """Accept an order: the answer is its state at acceptance (``accepted``, as a real
        option order answers); it is routed, and fills, later (:meth:`route`, which the
        server calls just after answering).

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
        steps = self.price_steps(symbol)
        if limit is not None and not steps.on_step(limit):
            raise ApiRefusal(422, f"invalid limit_price {body['limit_price']}. price increment "
                                  f"does not fulfill minimum pricing criteria "
                                  f"(${steps.tick(limit):.2f} steps)", 42210000)
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
            "status": "accepted", "extended_hours": False, "legs": None, "trail_percent": None,
            "trail_price": None, "hwm": None, "subtag": None, "source": None,
        }
        self.orders[order_id] = order
        self._by_coid[coid] = order_id
        self._event("accepted", order)
        return dict(order)

    def route(self) -> int:
        """Orders accepted and not yet routed go to the venue: ``pending_new``, then
        ``new`` (each a trade update), then they fill against the touch when they can.
        Returns how many were routed (a canceled or rejected one is not)."""
        routed = 0
        for order in self.orders.values():
            if order["status"] != "accepted":
                continue
            for status in ("pending_new", "new"):
                order.update(status=status, updated_at=_iso(self.clock()))
                self._event(status, order)
            self._match(order)
            routed += 1
        return routed

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

    def close_day(self) -> int:
        """The close: every open day order is ``done_for_day``, then ``expired`` (each a
        trade update). Returns how many orders it ended."""
        ended = [o for o in self.orders.values() if o["status"] in OPEN]
        for order in ended:
            now = self.clock()
            order.update(status="done_for_day", updated_at=_iso(now))
            self._event("done_for_day", order)
            order.update(status="expired", expired_at=_iso(now), updated_at=_iso(now))
            self._event("expired", order)
        return len(ended)

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
                     close_price: float | None = None, penny: bool = True) -> Json:
        """List an option contract (``GET /v2/options/contracts``); ``penny``: its class is
        in the penny program (``ppind``), else it trades in $0.05/$0.10 steps."""
        occ = parse_occ(symbol)
        day = date.fromisoformat(occ.expiry)
        contract: Json = {
            "id": str(uuid.uuid5(_NAMESPACE, symbol)), "symbol": symbol,
            "name": f"{occ.underlying} {day:%b %d %Y} {occ.strike:g} {occ.option_type.title()}",
            "status": "active", "tradable": True, "expiration_date": occ.expiry,
            "root_symbol": occ.underlying, "underlying_symbol": occ.underlying,
            "underlying_asset_id": str(uuid.uuid5(_NAMESPACE, occ.underlying)),
            "type": occ.option_type, "style": "american", "strike_price": _num(occ.strike),
            "multiplier": str(MULTIPLIER), "size": "100", "ppind": penny,
        }
        # Alpaca's schema types these as strings (not nullable): unknown ones are left out.
        if open_interest is not None:
            contract.update(open_interest=str(open_interest), open_interest_date=occ.expiry)
        if close_price is not None:
            contract.update(close_price=_num(close_price), close_price_date=occ.expiry)
        self.contracts[symbol] = contract
        return contract

    def price_steps(self, symbol: str) -> PriceSteps:
        """The price steps of an option: its listed contract's ``ppind``, else what is known
        of its class (:mod:`domain.price_steps`)."""
        listed = self.contracts.get(symbol)
        return PriceSteps(parse_occ(symbol).underlying, listed["ppind"] if listed else None)

    def contracts_page(self, params: dict[str, str], page_size: int) -> Json:
        """One page of ``GET /v2/options/contracts`` (``page_token`` is an offset).

        As Alpaca: active contracts only unless ``status`` says otherwise, and without any
        ``expiration_date*`` filter only those expiring by the coming weekend
        (:func:`coming_weekend`, from the account's clock).
        """
        if not any(params.get(k) for k in ("expiration_date", "expiration_date_gte",
                                            "expiration_date_lte")):
            params = {**params, "expiration_date_lte": coming_weekend(self.clock()).isoformat()}
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
        if order["status"] not in WORKING or touch is None:
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


def coming_weekend(now: datetime) -> date:
    """The Sunday that ends the coming weekend, in New York: this week's from Monday to
    Friday, next week's on a Saturday or Sunday (this weekend has begun; Friday's contracts
    have expired). ``GET /v2/options/contracts`` without date filters lists contracts
    expiring on or before it (Alpaca: "by default only active contracts that expire before
    the upcoming weekend are returned"; ``expiration_date_lte`` "by default ... the next
    weekend")."""
    today = now.astimezone(NEW_YORK).date()
    days = 6 - today.weekday() if today.weekday() < 5 else 13 - today.weekday()
    return today + timedelta(days=days)


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

