"""The local Alpaca server's answers against Alpaca's published OpenAPI definitions.

``tests/resources/alpaca/alpaca.schema.json`` holds the excerpts (sources, versions and
licence in its README.md): the option contracts page (``GET /v2/options/contracts``), the
option chain snapshots (``GET /v1beta1/options/snapshots/{underlying}``), the order object
(``POST /v2/orders``) and the error object. The answers are read raw, as the server sends
them, so a drift in the server fails here even where alpaca-py would let it through.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from alpaca.trading.enums import OrderSide, OrderType, PositionIntent, TimeInForce
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from jsonschema import Draft202012Validator, FormatChecker

from stocktracker.connectors.simulated.alpaca_account import PaperAccount
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.domain.pricing import occ_symbol
from tests import contract
from tests.waiting import eventually

SPEC = json.loads((Path(__file__).parents[1] / "resources" / "alpaca" / "alpaca.schema.json").read_text())
KEY, SECRET = "PKCONTRACTKEY", "contract-secret"
DAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 New York
CALL, PUT = occ_symbol("SPY", DAY, "call", 590), occ_symbol("SPY", DAY, "put", 585)


def _formats() -> FormatChecker:
    checker = FormatChecker()  # date, uuid, ...; date-time needs a package we do not have

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or (
            "T" in value and datetime.fromisoformat(value).tzinfo is not None)

    return checker


def validator(name: str) -> Draft202012Validator:
    return contract.validator(SPEC, name, _formats())


def check(name: str, instance: Any) -> None:
    contract.check(SPEC, name, instance, _formats())


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with serve_in_thread(AlpacaServer(KEY, SECRET)) as s:
        s.account.clock = lambda: NOW
        s.add_contract(CALL, open_interest=3400)
        s.add_contract(PUT)  # no open interest known
        s.account.add_contract(occ_symbol("SPY", DAY, "call", 595), open_interest=10, close_price=0.61)
        s.set_quote(CALL, 2.10, 2.16, 30, 40)
        s.set_quote(PUT, 0.70, 0.74, 15, 15)
        s.set_greeks(CALL, iv=0.145, delta=0.52)
        yield s


def get(server: AlpacaServer, path: str, **params: Any) -> requests.Response:
    return requests.get(server.url + path, params=params, timeout=5,
                        headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})


def post(server: AlpacaServer, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=5,
                         headers={"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET})


def test_the_excerpt_is_a_valid_schema() -> None:
    Draft202012Validator.check_schema(SPEC)
    for name in SPEC["$defs"]:
        validator(name)  # every $ref resolves when it is used


def test_contracts_pages(server: AlpacaServer) -> None:
    first = get(server, "/v2/options/contracts", underlying_symbols="SPY",
                expiration_date=DAY.isoformat(), limit=2)
    assert first.status_code == 200
    page = first.json()
    check("OptionContractsResponse", page)
    assert len(page["option_contracts"]) == 2 and page["next_page_token"]
    last = get(server, "/v2/options/contracts", underlying_symbols="SPY",
               expiration_date=DAY.isoformat(), limit=2, page_token=page["next_page_token"]).json()
    check("OptionContractsResponse", last)
    assert last["next_page_token"] is None
    by = {c["symbol"]: c for c in page["option_contracts"] + last["option_contracts"]}
    assert by[CALL]["open_interest"] == "3400" and "open_interest" not in by[PUT]
    # the default listing (no date filter: this week's contracts) has the same shape
    check("OptionContractsResponse", get(server, "/v2/options/contracts").json())


def test_option_chain_snapshots(server: AlpacaServer) -> None:
    answer = get(server, "/v1beta1/options/snapshots/SPY", feed="indicative",
                 expiration_date=DAY.isoformat())
    assert answer.status_code == 200
    body = answer.json()
    check("option_snapshots_resp", body)
    assert set(body["snapshots"]) == {CALL, PUT}
    check("option_snapshot", body["snapshots"][CALL])  # with greeks and IV
    check("option_snapshot", body["snapshots"][PUT])  # a quote alone


@pytest.mark.parametrize("kind", ["limit", "market"])
def test_orders(server: AlpacaServer, kind: str) -> None:
    """What alpaca-py posts (as ``TradingClient.submit_order`` does) and what comes back."""
    common = {"symbol": CALL, "qty": 2, "side": OrderSide.BUY, "time_in_force": TimeInForce.DAY,
              "client_order_id": f"contract-{kind}", "position_intent": PositionIntent.BUY_TO_OPEN}
    request = (LimitOrderRequest(limit_price=2.05, type=OrderType.LIMIT, **common) if kind == "limit"
               else MarketOrderRequest(type=OrderType.MARKET, **common))
    answer = post(server, "/v2/orders", request.to_request_fields())
    assert answer.status_code == 200
    order = answer.json()
    check("Order", order)
    assert order["asset_class"] == "us_option" and order["status"] == "accepted"  # routed later
    # the same order read back once routed: filled (market) or resting (limit)
    eventually(server.routed, timeout=5)
    again = get(server, f"/v2/orders/{order['id']}").json()
    check("Order", again)
    assert again["status"] == ("filled" if kind == "market" else "new")


def test_refusals_are_alpaca_errors(server: AlpacaServer) -> None:
    refused = post(server, "/v2/orders", {"symbol": CALL, "qty": "1", "side": "buy", "type": "market",
                                          "time_in_force": "gtc"})
    assert refused.status_code == 422
    check("Error", refused.json())
    missing = get(server, "/v2/orders/5f0b5e4a-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    check("Error", missing.json())


@pytest.mark.parametrize(("name", "path", "drift"), [
    ("OptionContractsResponse", ("option_contracts", 0), lambda c: c.pop("multiplier")),
    ("OptionContractsResponse", ("option_contracts", 0), lambda c: c.update(ppind="yes")),
    ("OptionContractsResponse", ("option_contracts", 0), lambda c: c.update(open_interest=None)),
    ("OptionContractsResponse", ("option_contracts", 0), lambda c: c.update(expiration_date="11/24/2026")),
    ("option_snapshots_resp", ("snapshots", CALL, "latestQuote"), lambda q: q.pop("bx")),
    ("option_snapshots_resp", ("snapshots", CALL, "latestQuote"), lambda q: q.update(t="yesterday")),
    ("option_snapshots_resp", ("snapshots", CALL, "greeks"), lambda g: g.pop("vega")),
])
def test_a_drift_fails(server: AlpacaServer, name: str, path: tuple[Any, ...], drift: Any) -> None:
    body = (get(server, "/v2/options/contracts", expiration_date=DAY.isoformat()) if name.startswith("Option")
            else get(server, "/v1beta1/options/snapshots/SPY")).json()
    check(name, body)
    bad = copy.deepcopy(body)
    part = bad
    for key in path:
        part = part[key]
    drift(part)
    with pytest.raises(jsonschema.ValidationError):
        validator(name).validate(bad)


@pytest.mark.parametrize("drift", [
    lambda o: o.pop("time_in_force"), lambda o: o.update(status="working"),
    lambda o: o.update(qty=2), lambda o: o.update(asset_id="not-a-uuid"),
    lambda o: o.update(created_at="2026-11-24 15:00"),
])
def test_an_order_drift_fails(server: AlpacaServer, drift: Any) -> None:
    order = post(server, "/v2/orders", {"symbol": CALL, "qty": "1", "side": "buy", "type": "limit",
                                        "limit_price": "1", "time_in_force": "day"}).json()
    check("Order", order)
    drift(order)
    with pytest.raises(jsonschema.ValidationError):
        validator("Order").validate(order)


# Alpaca's trade_updates events (docs.alpaca.markets/docs/websocket-streaming, "Order
# Updates": the common ones, then the less common); no machine-readable schema is published.
TRADE_EVENTS = {"new", "fill", "partial_fill", "canceled", "expired", "done_for_day", "replaced",
                "accepted", "rejected", "pending_new", "stopped", "pending_cancel",
                "pending_replace", "calculated", "suspended", "order_replace_rejected",
                "order_cancel_rejected"}


def test_trade_updates_follow_an_option_order_through_its_day() -> None:
    """Answered ``accepted``; routed ``pending_new``, ``new``; partly filled; at the close
    ``done_for_day`` then ``expired``. Each update is an event Alpaca names, its order
    valid, and alpaca-py's ``TradeUpdate`` reads it."""
    account = PaperAccount(clock=lambda: NOW)
    account.set_quote(CALL, 2.10, 2.16, 30, 1)
    answer = account.submit({"symbol": CALL, "qty": "3", "side": "buy", "type": "limit",
                             "limit_price": "2.16", "time_in_force": "day"})
    assert answer["status"] == "accepted"
    account.route()
    assert account.close_day() == 1
    events = [e["event"] for e in account.events]
    assert events == ["accepted", "pending_new", "new", "partial_fill", "done_for_day", "expired"]
    assert set(events) <= TRADE_EVENTS
    for data in account.events:
        check("Order", data["order"])
        assert TradeUpdate(**data).event == data["event"]
    assert account.order(answer["id"])["status"] == "expired"
