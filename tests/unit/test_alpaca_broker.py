"""The Alpaca broker adapter, driving the real alpaca-py clients against the local Alpaca
server (HTTP + trade-updates websocket, paper-account state): no mock objects."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.models import Order, TradeUpdate
from pydantic import SecretStr

from stocktracker.connectors.alpaca import convert
from stocktracker.connectors.alpaca.broker import AlpacaBroker, MissingKeys
from stocktracker.connectors.alpaca.config import AlpacaSettings
from stocktracker.connectors.alpaca.limiter import RateLimiter
from stocktracker.connectors.broker import Broker, BrokerError
from stocktracker.connectors.simulated.alpaca_account import PaperAccount
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.connectors.simulated.alpaca_stream import GARBLES
from stocktracker.domain.orders import (
    BrokerPosition,
    Execution,
    MalformedUpdate,
    OrderRequest,
    OrderUpdate,
    StreamResumed,
)
from tests.waiting import eventually_async

KEY, SECRET = "PKLOCALTESTKEY01", "sk-local-very-secret-0123456789"
SYM = "SPY261124C00590000"
PUT = "SPY261124P00585000"
WAIT_S = 5.0  # for the local Alpaca server and the adapter to show an effect


def buy(coid: str = "o1", qty: int = 2, limit: float | None = 1.10, kind: str = "limit",
        symbol: str = SYM) -> OrderRequest:
    return OrderRequest(coid, symbol, "buy", qty, kind, limit, "open")


def sell(coid: str, qty: int, limit: float | None = None, symbol: str = SYM) -> OrderRequest:
    return OrderRequest(coid, symbol, "sell", qty, "market" if limit is None else "limit", limit, "close")


def make(server: AlpacaServer, **kw: Any) -> AlpacaBroker:
    options: dict[str, Any] = {"poll_interval_s": 0.1, "reconnect_s": 0.05, "backoff_s": 0.01,
                               "backoff_cap_s": 0.05, "timeout_s": 2.0, "max_retries": 3}
    options.update(kw)
    return AlpacaBroker(KEY, SECRET, trading_url=server.url, stream_url=server.stream_url, **options)


def us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class Clock:
    """The local server's pinned clock, moved on by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Collector:
    """Reads ``broker.updates()`` in a task into ``events`` (and ``malformed``)."""

    def __init__(self, broker: AlpacaBroker) -> None:
        self.broker = broker
        self.events: list[OrderUpdate] = []
        self.malformed: list[MalformedUpdate] = []
        self.resumed: list[StreamResumed] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for update in self.broker.updates():
            if isinstance(update, MalformedUpdate):
                self.malformed.append(update)
            elif isinstance(update, StreamResumed):
                self.resumed.append(update)
            else:
                self.events.append(update)

    def of(self, coid: str) -> list[tuple[str, int]]:
        return [(e.event, e.filled_qty) for e in self.events if e.client_order_id == coid]

    async def wait(self, coid: str, event: str, timeout: float = 5.0) -> OrderUpdate:
        await eventually_async(
            lambda: any(e.client_order_id == coid and e.event == event for e in self.events), timeout)
        return next(e for e in self.events if e.client_order_id == coid and e.event == event)

    def keys(self) -> list[tuple[str, str, int]]:
        return [(e.client_order_id, e.event, e.filled_qty) for e in self.events]


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with serve_in_thread(AlpacaServer(KEY, SECRET)) as s:
        yield s


@pytest.fixture
async def broker(server: AlpacaServer) -> AsyncIterator[AlpacaBroker]:
    b = make(server)
    yield b
    await asyncio.wait_for(b.close(), 5)


@pytest.fixture
async def live(broker: AlpacaBroker, server: AlpacaServer) -> AsyncIterator[Collector]:
    """A collector on a broker whose stream is connected."""
    collector = Collector(broker)
    await eventually_async(lambda: server.subscribers == 1, timeout=WAIT_S)
    yield collector
    await asyncio.wait_for(broker.close(), 5)
    await asyncio.wait_for(collector.task, 5)


def test_it_is_a_broker() -> None:
    def takes(b: Broker) -> str:
        return b.name

    broker = AlpacaBroker("k", "s")
    assert takes(broker) == "alpaca"
    asyncio.run(broker.close())


# ---- orders and the stream ------------------------------------------------------------------
async def test_limit_order_is_new_then_fills_through_the_stream(
        broker: AlpacaBroker, server: AlpacaServer, live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.20, 10, 10)
    state = await broker.submit(buy("a1", 2, 1.10))
    assert state.event == "new" and state.broker_order_id and state.filled_qty == 0
    server.set_quote(SYM, 1.00, 1.08, 10, 10)
    fill = await live.wait("a1", "fill")
    assert fill.filled_qty == 2 and fill.last_fill_qty == 2
    assert fill.last_fill_price == pytest.approx(1.08) and fill.filled_avg_price == pytest.approx(1.08)
    assert live.of("a1") == [("new", 0), ("fill", 2)]
    assert broker.polls == 0  # all of it came through the websocket
    body = server.account.order_by_coid("a1")
    assert body["time_in_force"] == "day" and body["position_intent"] == "buy_to_open"
    assert body["limit_price"] == "1.1"


async def test_an_order_still_open_at_the_close_is_done_for_day_then_expired(
        broker: AlpacaBroker, server: AlpacaServer, live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.20, 10, 1)
    state = await broker.submit(buy("d1", 3, 1.20))
    assert state.event == "new" and state.filled_qty == 0  # answered "accepted": not filled yet
    await live.wait("d1", "partial_fill")
    assert server.close_day() == 1
    expired = await live.wait("d1", "expired")
    assert expired.done and expired.filled_qty == 1
    await asyncio.sleep(0.2)  # done_for_day is not news: it adds no fill and ends nothing
    assert live.of("d1") == [("new", 0), ("partial_fill", 1), ("expired", 1)]


async def test_partial_fill_then_fill(broker: AlpacaBroker, server: AlpacaServer,
                                      live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.10, 10, 2)
    await broker.submit(buy("p1", 3, 1.15))
    partial = await live.wait("p1", "partial_fill")
    assert (partial.filled_qty, partial.last_fill_qty, partial.last_fill_price) == (2, 2, 1.10)
    server.set_quote(SYM, 1.02, 1.14, 10, 5)
    fill = await live.wait("p1", "fill")
    assert (fill.filled_qty, fill.last_fill_qty, fill.last_fill_price) == (3, 1, 1.14)
    assert fill.filled_avg_price == pytest.approx((2 * 1.10 + 1.14) / 3, abs=1e-4)
    assert live.of("p1") == [("new", 0), ("partial_fill", 2), ("fill", 3)]
    [held] = await broker.positions()
    assert (held.symbol, held.qty, held.avg_entry_price) == (SYM, 3, pytest.approx(1.1133, abs=1e-3))


async def test_market_sell_closes_the_position(broker: AlpacaBroker, server: AlpacaServer,
                                               live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.10, 10, 10)
    await broker.submit(buy("b1", 2, 1.10))
    await live.wait("b1", "fill")
    await broker.submit(sell("s1", 2))
    closed = await live.wait("s1", "fill")
    assert closed.last_fill_price == 1.00 and closed.side == "sell"
    assert server.account.order_by_coid("s1")["position_intent"] == "sell_to_close"
    assert await broker.positions() == []
    account = await broker.account()
    assert account.cash == pytest.approx(100_000 - 220 + 200)


# ---- retries and idempotence ----------------------------------------------------------------
async def test_5xx_then_success_sends_exactly_one_order(broker: AlpacaBroker,
                                                        server: AlpacaServer) -> None:
    server.fail_next("submit", 503)
    state = await broker.submit(buy("r1"))
    assert state.event == "new"
    assert server.order_count() == 1
    assert server.count("POST", "/v2/orders") == 2
    assert server.count("GET", "by_client_order_id") == 1  # looked before sending again


async def test_5xx_after_the_order_was_accepted_is_not_sent_again(broker: AlpacaBroker,
                                                                  server: AlpacaServer) -> None:
    server.fail_next("submit", 500, after_accept=True)
    state = await broker.submit(buy("r2"))
    assert state.event == "new" and state.client_order_id == "r2"
    assert server.order_count() == 1
    assert server.count("POST", "/v2/orders") == 1


async def test_429_is_retried_and_one_order_is_sent(broker: AlpacaBroker, server: AlpacaServer) -> None:
    server.fail_next("submit", 429, count=2)
    state = await broker.submit(buy("r3"))
    assert state.event == "new"
    assert server.order_count() == 1
    assert server.count("POST", "/v2/orders") == 3
    assert server.count("GET", "by_client_order_id") == 0  # a 429 is not ambiguous


async def test_accepted_then_timed_out_is_reconciled_by_client_id(server: AlpacaServer) -> None:
    b = make(server, timeout_s=0.5)
    try:
        server.accept_then_timeout(5.0)
        started = time.monotonic()
        state = await asyncio.wait_for(b.submit(buy("t1")), 5)
        assert time.monotonic() - started < 3
        assert state.event == "new" and state.broker_order_id
        assert server.order_count() == 1
        assert server.count("POST", "/v2/orders") == 1
        assert server.count("GET", "by_client_order_id") >= 1
    finally:
        await b.close()


async def test_unreachable_after_retries_is_a_broker_error(server: AlpacaServer) -> None:
    b = make(server, max_retries=2)
    try:
        server.fail_next("submit", 502, count=10)
        with pytest.raises(BrokerError, match="after 3 attempts"):
            await b.submit(buy("x1"))
        assert server.order_count() == 0
        server.fail_next("account", 500, count=10)
        with pytest.raises(BrokerError):
            await b.account()
    finally:
        await b.close()


async def test_duplicate_client_order_id_returns_the_existing_order(broker: AlpacaBroker,
                                                                    server: AlpacaServer) -> None:
    first = await broker.submit(buy("d1"))
    again = await broker.submit(buy("d1"))
    assert again.broker_order_id == first.broker_order_id
    assert server.count("POST", "/v2/orders") == 1
    other = make(server)  # knows nothing: Alpaca answers 422 "client_order_id must be unique"
    try:
        found = await other.submit(buy("d1"))
        assert found.broker_order_id == first.broker_order_id and found.event == "new"
        assert server.count("POST", "/v2/orders") == 2
        assert server.order_count() == 1
    finally:
        await other.close()


async def test_rejections_are_rejected_updates_with_the_reason(broker: AlpacaBroker,
                                                               server: AlpacaServer) -> None:
    small = make(server)
    server.account.cash = 100.0
    try:
        updates = broker.updates()
        poor = await small.submit(buy("j1", 1, 5.00))
        assert poor.event == "rejected" and "insufficient options buying power" in poor.reason
        assert poor.done and poor.broker_order_id == ""
        server.reject_next("asset is not tradable", status=422)
        refused = await broker.submit(buy("j2", 1, 0.5))
        assert refused.event == "rejected" and refused.reason == "asset is not tradable"
        first = await asyncio.wait_for(anext(updates), 2)
        assert (first.client_order_id, first.event, first.reason) == ("j2", "rejected",
                                                                     "asset is not tradable")
        no_position = await broker.submit(sell("j3", 1, 1.0))
        assert no_position.event == "rejected" and "insufficient qty" in no_position.reason
        assert await broker.submit(buy("j2", 1, 0.5)) == refused  # never sent twice
        assert server.order_count() == 0
    finally:
        await small.close()


async def test_an_off_step_limit_is_refused_as_alpaca_refuses_it(broker: AlpacaBroker,
                                                                 server: AlpacaServer) -> None:
    """A class outside the penny program trades in $0.05 below $3 and $0.10 above; the
    server answers an off-step limit 422 (code 42210000), which is a rejection here."""
    nickel = "XYZ261124C00100000"
    server.add_contract(nickel, open_interest=100, penny=False)
    server.set_quote(nickel, 1.00, 1.10, 10, 10)
    off = await broker.submit(buy("t1", 1, 1.07, symbol=nickel))
    assert off.event == "rejected" and "invalid limit_price 1.07" in off.reason
    assert "$0.05 steps" in off.reason and server.order_count() == 0
    on = await broker.submit(buy("t2", 1, 1.10, symbol=nickel))
    assert on.event in ("new", "fill") and server.order_count() == 1
    penny = await broker.submit(buy("t3", 1, 1.07))  # SPY: pennies at every price
    assert penny.event in ("new", "fill") and server.order_count() == 2


async def test_a_rejection_on_the_stream(broker: AlpacaBroker, server: AlpacaServer,
                                         live: Collector) -> None:
    server.reject_next("exchange rejected", asynchronous=True)
    await broker.submit(buy("j4", 1, 0.5))
    rejected = await live.wait("j4", "rejected")
    assert rejected.reason and rejected.done
    assert [e for e, _ in live.of("j4")][-1] == "rejected"


async def test_wrong_keys_are_a_broker_error(server: AlpacaServer) -> None:
    b = AlpacaBroker(KEY, "wrong", trading_url=server.url, stream_url=server.stream_url,
                     backoff_s=0.01)
    try:
        with pytest.raises(BrokerError, match="refused the API keys"):
            await b.account()
        with pytest.raises(BrokerError, match="refused the API keys"):
            await b.submit(buy("k1"))
        assert server.order_count() == 0
    finally:
        await b.close()


# ---- cancel, lookups --------------------------------------------------------------------------
async def test_cancel(broker: AlpacaBroker, server: AlpacaServer, live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.30, 10, 10)
    await broker.submit(buy("c1", 2, 1.10))
    canceled = await broker.cancel("c1")
    assert canceled is not None and canceled.event == "canceled" and canceled.done
    assert server.account.order_by_coid("c1")["status"] == "canceled"
    await live.wait("c1", "canceled")
    await asyncio.sleep(0.2)
    assert live.of("c1") == [("new", 0), ("canceled", 0)]  # the stream's copy was not repeated
    assert await broker.cancel("nobody") is None
    server.set_quote(SYM, 1.00, 1.05, 10, 10)
    await broker.submit(buy("c2", 1, 1.10))
    await live.wait("c2", "fill")
    filled = await broker.cancel("c2")
    assert filled is not None and filled.event == "fill"  # too late: it filled
    assert server.count("DELETE", "/v2/orders/") == 1  # known to be done: not asked


async def test_order_lookup(broker: AlpacaBroker, server: AlpacaServer) -> None:
    assert await broker.order("nope") is None
    server.set_quote(SYM, 1.00, 1.05, 10, 10)
    await broker.submit(buy("l1", 1, 1.10))
    await eventually_async(server.routed, WAIT_S)
    state = await broker.order("l1")
    assert state is not None and state.event == "fill" and state.filled_avg_price == 1.05


# ---- a dropped stream -------------------------------------------------------------------------
async def test_stream_drop_falls_back_to_polling_without_duplicates(
        broker: AlpacaBroker, server: AlpacaServer, live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.30, 10, 10)
    await broker.submit(buy("w1", 3, 1.10))
    await live.wait("w1", "new")
    server.drop_stream(refuse=True)
    await eventually_async(lambda: broker.stream_drops == 1, timeout=WAIT_S)
    server.set_quote(SYM, 1.00, 1.10, 10, 2)  # partial fill, not streamed to anyone
    partial = await live.wait("w1", "partial_fill")
    assert (partial.filled_qty, partial.last_fill_qty, partial.last_fill_price) == (2, 2, 1.10)
    assert broker.polls > 0
    server.set_quote(SYM, 1.00, 1.09, 10, 5)
    fill = await live.wait("w1", "fill")
    assert (fill.last_fill_qty, fill.last_fill_price) == (1, 1.09)
    server.allow_stream()
    await eventually_async(lambda: server.subscribers == 1, timeout=WAIT_S)
    # back on the stream: a new order's events arrive, and nothing is repeated
    server.set_quote(SYM, 1.00, 1.05, 10, 10)
    await broker.submit(buy("w2", 1, 1.10))
    await live.wait("w2", "fill")
    await asyncio.sleep(0.3)
    assert live.of("w1") == [("new", 0), ("partial_fill", 2), ("fill", 3)]
    assert len(live.keys()) == len(set(live.keys()))
    assert server.stream_connections >= 2
    [resumed] = live.resumed  # the owner reconciles the gap's executions on this
    assert resumed.down_s > 0


async def test_fills_in_a_short_gap_are_caught_up_on_reconnect(
        broker: AlpacaBroker, server: AlpacaServer, live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.30, 10, 10)
    await broker.submit(buy("g1", 2, 1.10))
    await live.wait("g1", "new")
    server.drop_stream()
    server.set_quote(SYM, 1.00, 1.10, 10, 10)  # while the client reconnects
    fill = await live.wait("g1", "fill")
    assert fill.last_fill_qty == 2
    await eventually_async(lambda: server.subscribers == 1, timeout=WAIT_S)
    await asyncio.sleep(0.3)
    assert live.of("g1") == [("new", 0), ("fill", 2)]
    assert len(live.resumed) == 1


# ---- restart, account, settings ----------------------------------------------------------------
async def test_a_new_instance_sees_open_orders_and_positions(server: AlpacaServer) -> None:
    first = make(server)
    server.set_quote(SYM, 1.00, 1.05, 10, 10)
    server.set_quote(PUT, 2.00, 2.40, 10, 10)
    await first.submit(buy("h1", 2, 1.10))
    await first.submit(buy("h2", 1, 2.10, symbol=PUT))
    await eventually_async(server.routed, WAIT_S)  # h1 fills just after its "accepted"
    await first.close()
    second = make(server)
    try:
        opened = await second.open_orders()
        assert [(o.client_order_id, o.event, o.symbol) for o in opened] == [("h2", "new", PUT)]
        assert await second.positions() == [BrokerPosition(SYM, 2, 1.05)]
        collector = Collector(second)
        await eventually_async(lambda: server.subscribers == 1, timeout=WAIT_S)
        server.set_quote(PUT, 2.00, 2.05, 10, 10)
        fill = await collector.wait("h2", "fill")
        assert fill.last_fill_qty == 1  # the adopted order is followed; its "new" not repeated
        assert collector.of("h2") == [("fill", 1)]
        assert await second.submit(buy("h1", 2, 1.10)) == await second.order("h1")
        assert server.order_count() == 2
    finally:
        await second.close()


async def test_account(broker: AlpacaBroker, server: AlpacaServer) -> None:
    account = await broker.account()
    assert (account.equity, account.buying_power, account.cash) == (100_000, 100_000, 100_000)
    server.set_quote(SYM, 1.00, 1.30, 10, 10)
    await broker.submit(buy("e1", 2, 1.10))  # rests: reserves buying power
    account = await broker.account()
    assert account.buying_power == pytest.approx(100_000 - 220) and account.cash == 100_000


def test_missing_keys_are_a_clear_error() -> None:
    settings = AlpacaSettings(api_key=None, secret_key=None)
    with pytest.raises(MissingKeys, match="ALPACA_API_KEY and ALPACA_SECRET_KEY"):
        AlpacaBroker.from_settings(settings, live=False)
    settings = AlpacaSettings(api_key=SecretStr("k"), secret_key=None)
    with pytest.raises(MissingKeys, match="ALPACA_SECRET_KEY"):
        AlpacaBroker.from_settings(settings, live=False)


async def test_from_settings_paper_by_default_and_url_overrides(server: AlpacaServer) -> None:
    a = AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), trading_url=server.url,
                       stream_url=server.stream_url, requests_per_minute=123, max_retries=1,
                       timeout_s=1.5, poll_interval_s=0.3)
    b = AlpacaBroker.from_settings(a, live=False)
    try:
        assert b.paper and b.max_retries == 1 and b.poll_interval_s == 0.3
        assert b.limiter.limit == 123
        assert (await b.account()).cash == 100_000
    finally:
        await b.close()
    real = AlpacaBroker.from_settings(AlpacaSettings(
        api_key=SecretStr(KEY), secret_key=SecretStr(SECRET)), live=True)
    assert not real.paper
    assert real._trading._base_url == "https://api.alpaca.markets"
    paper = AlpacaBroker.from_settings(AlpacaSettings(
        api_key=SecretStr(KEY), secret_key=SecretStr(SECRET)))
    assert paper._trading._base_url == "https://paper-api.alpaca.markets"
    assert paper.limiter is real.limiter  # one limiter per key
    await real.close()
    await paper.close()


async def test_secrets_never_reach_the_logs(server: AlpacaServer,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    b = make(server)
    try:
        collector = Collector(b)
        await eventually_async(lambda: server.subscribers == 1, timeout=WAIT_S)
        server.set_quote(SYM, 1.00, 1.05, 10, 10)
        await b.submit(buy("z1", 1, 1.10))
        await collector.wait("z1", "fill")
        server.fail_next("account", 500, count=10)
        with pytest.raises(BrokerError):
            await b.account()
    finally:
        await b.close()
    text = caplog.text
    assert "authentication frame, masked" in text  # the websocket library logs frames
    for secret in (SECRET, KEY):  # not even a piece of a key (frames are logged cut short)
        assert not [secret[i:i + 8] for i in range(len(secret) - 7) if secret[i:i + 8] in text]
    assert any(r.name == "websockets.client" and "listen" in r.getMessage() for r in caplog.records)


# ---- execution ids, the fills Alpaca lists, its clock -------------------------------------------
def streamed_fills(server: AlpacaServer, coid: str) -> list[str]:
    return [e["execution_id"] for e in server.account.events
            if e["order"]["client_order_id"] == coid and e["event"] in ("fill", "partial_fill")]


async def test_each_streamed_fill_carries_its_own_execution_id(
        broker: AlpacaBroker, server: AlpacaServer, live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.10, 10, 2)
    await broker.submit(buy("x1", 3, 1.15))
    partial = await live.wait("x1", "partial_fill")
    server.set_quote(SYM, 1.02, 1.14, 10, 5)
    fill = await live.wait("x1", "fill")
    assert partial.execution_id and fill.execution_id and partial.execution_id != fill.execution_id
    assert [partial.execution_id, fill.execution_id] == streamed_fills(server, "x1")
    new = live.events[0]
    assert (new.event, new.execution_id) == ("new", "")
    listed = await broker.executions(0)
    assert [e.execution_id for e in listed] == [partial.execution_id, fill.execution_id]


async def test_a_fill_alpaca_sends_again_is_reported_once(
        broker: AlpacaBroker, server: AlpacaServer, live: Collector) -> None:
    server.set_quote(SYM, 1.00, 1.05, 10, 10)
    await broker.submit(buy("y1", 2, 1.10))
    fill = await live.wait("y1", "fill")
    assert server.replay("y1") == 4  # accepted, pending_new, new and fill again: same ids
    assert server.replay("y1") == 4
    await broker.submit(buy("y2", 1, 1.10))  # sent after the copies: read after them
    await live.wait("y2", "fill")
    assert live.of("y1") == [("new", 0), ("fill", 2)]
    assert [e.execution_id for e in live.events if e.last_fill_qty] == [
        fill.execution_id, *streamed_fills(server, "y2")]
    assert live.malformed == [] and broker.polls == 0


@pytest.fixture
def clock(server: AlpacaServer) -> Clock:
    """The server's clock pinned at 10:00:00.5 New York time on a Tuesday."""
    pinned = Clock(datetime(2026, 11, 24, 15, 0, 0, 500_000, tzinfo=UTC))
    server.account.clock = pinned
    return pinned


async def a_session(broker: AlpacaBroker, server: AlpacaServer, clock: Clock) -> list[datetime]:
    """Five fills, a second apart: a partial fill and its rest, a put, two sells."""
    times = [clock.now]
    server.set_quote(SYM, 1.00, 1.10, 10, 2)
    await broker.submit(buy("s1", 3, 1.15))  # 2 at 1.10
    await eventually_async(server.routed, WAIT_S)  # answered "accepted", filled just after
    times.append(clock.advance())
    server.set_quote(SYM, 1.02, 1.14, 10, 5)  # 1 at 1.14
    times.append(clock.advance())
    server.set_quote(PUT, 2.00, 2.05, 10, 10)
    await broker.submit(buy("s2", 1, 2.10, symbol=PUT))  # 1 at 2.05
    await eventually_async(server.routed, WAIT_S)
    times.append(clock.advance())
    await broker.submit(sell("s3", 2))  # 2 at 1.02
    await eventually_async(server.routed, WAIT_S)
    times.append(clock.advance())
    await broker.submit(sell("s4", 1))  # 1 at 1.02
    await eventually_async(server.routed, WAIT_S)
    return times


async def test_executions_list_every_fill_of_the_session_across_pages(
        broker: AlpacaBroker, server: AlpacaServer, clock: Clock) -> None:
    times = await a_session(broker, server, clock)
    other = make(server, activities_page_size=2)  # a restart: knows no order
    try:
        listed = await other.executions(us(times[0]))
        assert [(e.client_order_id, e.symbol, e.side, e.qty, e.price, e.cum_qty) for e in listed] == [
            ("s1", SYM, "buy", 2, 1.10, 2), ("s1", SYM, "buy", 1, 1.14, 3),
            ("s2", PUT, "buy", 1, 2.05, 1), ("s3", SYM, "sell", 2, 1.02, 2),
            ("s4", SYM, "sell", 1, 1.02, 1)]
        assert [e.at_us for e in listed] == [us(t) for t in times]
        ids = [e.execution_id for e in listed]
        assert len(set(ids)) == 5 and ids == [a["id"].split("::")[1] for a in server.account.fills]
        assert ids[:2] == streamed_fills(server, "s1")
        assert {e.broker_order_id for e in listed if e.client_order_id == "s1"} == {
            server.account.order_by_coid("s1")["id"]}
        pages = [q for m, path, q in server.requests if path == "/v2/account/activities/FILL"]
        assert len(pages) == 3 and all(q["direction"] == "asc" for q in pages)
        assert [q.get("page_token") for q in pages] == [None, server.account.fills[1]["id"],
                                                        server.account.fills[3]["id"]]
        assert server.count("GET", "/v2/orders/") == 4  # each order looked up once
        later = await other.executions(us(times[2]))  # at or after: the put's fill on
        assert [(e.client_order_id, e.qty) for e in later] == [("s2", 1), ("s3", 2), ("s4", 1)]
        assert server.count("GET", "/v2/orders/") == 4  # remembered
        assert await other.executions(us(times[4]) + 1) == []
    finally:
        await other.close()
    assert await broker.executions(us(times[0])) == listed  # its own orders: no lookup
    assert server.count("GET", "/v2/orders/") == 4


async def test_executions_are_retried_and_refusals_are_broker_errors(
        broker: AlpacaBroker, server: AlpacaServer, clock: Clock) -> None:
    server.set_quote(SYM, 1.00, 1.05, 10, 10)
    await broker.submit(buy("r1", 1, 1.10))
    server.fail_next("activities", 503)
    [only] = await broker.executions(0)
    assert only == Execution(streamed_fills(server, "r1")[0], "r1",
                             server.account.order_by_coid("r1")["id"], SYM, "buy", 1, 1.05, 1,
                             at_us=us(clock.now))
    server.fail_next("activities", 403)
    with pytest.raises(BrokerError):
        await broker.executions(0)


async def test_clock_us_is_alpacas_clock(broker: AlpacaBroker, server: AlpacaServer,
                                         clock: Clock) -> None:
    assert await broker.clock_us() == us(clock.now)
    body = server.account.clock_json()  # Alpaca gives New York time
    assert body["timestamp"] == "2026-11-24T10:00:00.500000-05:00" and body["is_open"] is True
    assert body["next_close"] == "2026-11-24T16:00:00-05:00"
    assert body["next_open"] == "2026-11-25T09:30:00-05:00"
    clock.advance(7 * 3600)  # 17:00 New York: closed
    assert await broker.clock_us() == us(clock.now)
    assert server.account.clock_json()["is_open"] is False


async def test_the_local_server_lists_fills_as_alpaca_does(
        broker: AlpacaBroker, server: AlpacaServer, clock: Clock) -> None:
    times = await a_session(broker, server, clock)
    get = broker._trading.get  # the SDK's own request path
    newest_first = await asyncio.to_thread(get, "/account/activities", {"activity_types": "FILL"})
    assert [a["id"] for a in newest_first] == [a["id"] for a in reversed(server.account.fills)]
    first = newest_first[-1]
    assert set(first) == {"id", "activity_type", "transaction_time", "type", "price", "qty", "side",
                          "symbol", "leaves_qty", "order_id", "cum_qty", "order_status"}
    assert (first["type"], first["qty"], first["leaves_qty"], first["cum_qty"],
            first["order_status"]) == ("partial_fill", "2", "1", "2", "partially_filled")
    assert first["id"].startswith("20261124100000500::")  # New York time to the ms
    assert first["transaction_time"] == times[0].isoformat().replace("+00:00", "Z")
    assert await asyncio.to_thread(get, "/account/activities/DIV") == []
    with pytest.raises(APIError, match="invalid activity type"):
        await asyncio.to_thread(get, "/account/activities/NOPE")


# ---- unreadable trade updates -------------------------------------------------------------------
@pytest.mark.parametrize("how", GARBLES)
async def test_an_unreadable_update_is_reported_and_the_fill_it_hid_is_polled(
        broker: AlpacaBroker, server: AlpacaServer, live: Collector, how: str) -> None:
    server.set_quote(SYM, 1.00, 1.30, 10, 10)
    await broker.submit(buy("u1", 2, 1.10))
    await live.wait("u1", "new")
    server.garble_next(how, "fill")
    server.set_quote(SYM, 1.00, 1.08, 10, 10)  # fills; the stream's copy is unreadable
    fill = await live.wait("u1", "fill")
    [bad] = live.malformed
    assert bad.raw == server.garbled[0] and bad.reason
    assert live.events.index(fill) == len(live.events) - 1  # reported after the bad message
    assert (fill.filled_qty, fill.last_fill_qty, fill.last_fill_price) == (2, 2, 1.08)
    assert fill.execution_id == "" and broker.polls >= 1  # found by polling, not streamed
    assert server.subscribers == 1  # the stream goes on
    await broker.submit(buy("u2", 1, 1.10))
    assert (await live.wait("u2", "fill")).execution_id == streamed_fills(server, "u2")[0]
    assert live.of("u1") == [("new", 0), ("fill", 2)]


# ---- the stream protocol and conversions, directly ------------------------------------------------
def test_progress_reports_each_state_once_and_splits_missed_fills() -> None:
    new = OrderUpdate("o", "b", SYM, "buy", 3, "new")
    part = OrderUpdate("o", "b", SYM, "buy", 3, "partial_fill", 2, 1.10)
    assert convert.progress(new, None) == [new]
    assert convert.progress(new, new) == []
    [p] = convert.progress(part, new)
    assert (p.last_fill_qty, p.last_fill_price) == (2, 1.10)
    assert convert.progress(new, p) == []  # an older poll answer
    canceled = OrderUpdate("o", "b", SYM, "buy", 3, "canceled", 2, 1.10)
    missed = convert.progress(canceled, new)
    assert [(u.event, u.last_fill_qty) for u in missed] == [("partial_fill", 2), ("canceled", 0)]
    assert convert.progress(canceled, canceled) == []
    assert convert.event_for("pending_cancel", 0) == "new"
    assert convert.event_for("pending_cancel", 1) == "partial_fill"
    assert convert.event_for("replaced", 0) == "canceled"
    assert convert.event_for("done_for_day", 2) == "partial_fill"


def test_trade_update_conversion() -> None:
    account = PaperAccount(clock=lambda: datetime(2026, 11, 24, 15, 0, tzinfo=UTC))
    account.set_quote(SYM, 1.00, 1.10, 5, 1)
    answer = account.submit({"symbol": SYM, "qty": "2", "side": "buy", "type": "limit",
                             "limit_price": "1.2", "time_in_force": "day", "client_order_id": "q1"})
    assert answer["status"] == "accepted" and [e["event"] for e in account.events] == ["accepted"]
    assert account.route() == 1 and account.route() == 0
    accepted, pending, new, partial = (TradeUpdate(**e) for e in account.events)
    assert [convert.trade_state(u).event for u in (accepted, pending, new)] == ["new"] * 3
    state = convert.trade_state(partial)
    assert (state.event, state.filled_qty, state.last_fill_qty, state.last_fill_price) == (
        "partial_fill", 1, 1, 1.10)
    assert state.execution_id == account.events[3]["execution_id"] != ""
    assert convert.progress(state, convert.trade_state(new))[0].execution_id == state.execution_id
    assert state.at_us == int(datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp()) * 1_000_000
    assert convert.order_state(Order(**account.order_by_coid("q1"))).event == "partial_fill"
    assert convert.trade_state(new).event == "new"
    with pytest.raises(Exception, match="client_order_id must be unique"):
        account.submit({"symbol": SYM, "qty": "1", "side": "buy", "type": "market",
                        "time_in_force": "day", "client_order_id": "q1"})
    with pytest.raises(Exception, match="day"):
        account.submit({"symbol": SYM, "qty": "1", "side": "buy", "type": "market",
                        "time_in_force": "gtc", "client_order_id": "q2"})


def test_an_execution_id_is_kept_only_for_exactly_that_fill() -> None:
    new = OrderUpdate("o", "b", SYM, "buy", 3, "new")
    streamed = OrderUpdate("o", "b", SYM, "buy", 3, "partial_fill", 2, 1.10, 2, 1.10,
                           execution_id="e-2")
    [kept] = convert.progress(streamed, new)
    assert (kept.last_fill_qty, kept.execution_id) == (2, "e-2")
    [missed_one] = convert.progress(streamed, None)  # a partial fill before it was missed
    assert (missed_one.last_fill_qty, missed_one.execution_id) == (2, "e-2")
    fill = OrderUpdate("o", "b", SYM, "buy", 3, "fill", 3, 1.12, 1, 1.16, execution_id="e-3")
    [derived] = convert.progress(fill, new)  # adds 3, the event names 1: not that execution
    assert (derived.last_fill_qty, derived.execution_id) == (3, "")
    canceled = OrderUpdate("o", "b", SYM, "buy", 3, "canceled", 2, 1.10, execution_id="x")
    assert [u.execution_id for u in convert.progress(canceled, new)] == ["", ""]


def test_fill_activity_conversion() -> None:
    activity = {"id": "20261124100000500::0c6f3f3e-8f0e-4a43-9d1c-5b7e2f4a9d10",
                "activity_type": "FILL", "transaction_time": "2026-11-24T15:00:00.500123Z",
                "type": "partial_fill", "price": "1.1", "qty": "2", "side": "sell_short",
                "symbol": SYM, "leaves_qty": "1", "order_id": "b-1", "cum_qty": "2",
                "order_status": "partially_filled"}
    assert convert.execution(activity, "o1") == Execution(
        "0c6f3f3e-8f0e-4a43-9d1c-5b7e2f4a9d10", "o1", "b-1", SYM, "sell", 2, 1.1, 2,
        at_us=us(datetime(2026, 11, 24, 15, 0, 0, 500_123, tzinfo=UTC)))
    with pytest.raises(ValueError, match="not a FILL"):
        convert.execution({**activity, "activity_type": "DIV"}, "o1")
    with pytest.raises(ValueError, match="without 'cum_qty'"):
        convert.execution({k: v for k, v in activity.items() if k != "cum_qty"}, "o1")
    with pytest.raises(ValueError):
        convert.execution({**activity, "qty": "two"}, "o1")


def test_order_request_conversion() -> None:
    limit = convert.order_request(OrderRequest("x", SYM, "buy", 2, "limit", 1.234, "open"))
    fields = limit.to_request_fields()
    assert fields == {"symbol": SYM, "qty": 2, "side": "buy", "type": "limit", "time_in_force": "day",
                      "client_order_id": "x", "position_intent": "buy_to_open", "limit_price": 1.23}
    market = convert.order_request(OrderRequest("y", SYM, "sell", 1, "market", None, "close"))
    assert market.to_request_fields()["position_intent"] == "sell_to_close"
    assert "limit_price" not in market.to_request_fields()


def test_limiter_is_shared_by_every_call(server: AlpacaServer) -> None:
    limiter = RateLimiter(limit=1000)

    async def run() -> None:
        b = make(server, limiter=limiter)
        try:
            await b.account()
            await b.submit(buy("m1"))
            await b.positions()
        finally:
            await b.close()

    asyncio.run(run())
    assert limiter.in_window == len(server.requests) == 3
