"""Streamed quotes: alpaca-py's real OptionDataStream and StockDataStream against the local
server's market-data websockets (Alpaca's msgpack messages), with drops and reconnects; the
protocol as a plain websocket client sees it; streamed quotes as Quote records."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import msgpack
import pytest

from stocktracker.connectors.alpaca.quote_stream import AlpacaQuoteStream
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.domain.pricing import occ_symbol
from stocktracker.domain.streamed_quotes import (
    BadStreamedQuote,
    StreamedQuote,
    near_the_money,
    quote_record,
    streamed_contracts,
)
from tests.waiting import eventually_async

KEY, SECRET = "PKSTREAMKEY", "stream-secret"
DAY = date(2026, 11, 24)
AT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10:00 New York
AT_US = int(AT.timestamp()) * 1_000_000
CALL, PUT = occ_symbol("SPY", DAY, "call", 590), occ_symbol("SPY", DAY, "put", 590)


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with serve_in_thread(AlpacaServer(KEY, SECRET)) as s:
        s.account.clock = lambda: AT
        yield s


def stream_of(server: AlpacaServer) -> AlpacaQuoteStream:
    return AlpacaQuoteStream(KEY, SECRET, url=server.data_stream_url)


async def next_quote(quotes: AsyncIterator[StreamedQuote], symbol: str,
                     timeout: float = 20) -> StreamedQuote:
    async def find() -> StreamedQuote:
        async for quote in quotes:
            if quote.symbol == symbol:
                return quote
        raise AssertionError("stream ended")
    return await asyncio.wait_for(find(), timeout)


async def keep_wanting(stream: AlpacaQuoteStream, options: set[str], stocks: set[str]) -> None:
    while True:
        await stream.want(options, stocks)
        await asyncio.sleep(0.2)


# ---- through alpaca-py's stream classes ---------------------------------------------------------
def test_quotes_arrive_and_survive_a_drop(server: AlpacaServer) -> None:
    async def story() -> None:
        stream = stream_of(server)
        quotes = stream.quotes()
        try:
            await stream.want({CALL}, {"SPY"})
            await eventually_async(lambda: server.market_data.subscribed("options") == {CALL}
                                   and server.market_data.subscribed("stocks") == {"SPY"})
            server.set_quote(CALL, 2.10, 2.16, 30, 40)
            got = await next_quote(quotes, CALL)
            assert (got.option, got.bid, got.ask, got.bid_size, got.ask_size, got.at_us) == \
                (True, 2.10, 2.16, 30, 40, AT_US)
            server.set_stock_quote("SPY", 589.99, 590.01)
            spot = await next_quote(quotes, "SPY")
            assert (spot.option, spot.bid, spot.ask) == (False, 589.99, 590.01)

            server.market_data.drop(refuse=True)  # every connection closed, new ones get 406
            await eventually_async(lambda: server.market_data.open_connections("options") == 0)
            await asyncio.sleep(1.5)
            refused_at = dict(server.market_data.connections)
            server.market_data.allow()
            await eventually_async(lambda: server.market_data.subscribed("options") == {CALL}
                                   and server.market_data.subscribed("stocks") == {"SPY"})
            assert server.market_data.connections["options"] == refused_at["options"] + 1
            server.set_quote(CALL, 1.50, 1.56, 5, 6)  # the drop a stop would act on
            again = await next_quote(quotes, CALL)
            assert (again.bid, again.ask) == (1.50, 1.56)
        finally:
            await stream.close()
        await eventually_async(lambda: server.market_data.open_connections("options") == 0
                               and server.market_data.open_connections("stocks") == 0)
    run(story())


def test_subscriptions_follow_what_is_wanted_even_across_a_drop(server: AlpacaServer) -> None:
    async def story() -> None:
        stream = stream_of(server)
        quotes = stream.quotes()
        try:
            await stream.want({CALL}, {"SPY"})
            await eventually_async(lambda: server.market_data.subscribed("options") == {CALL})
            server.market_data.drop(refuse=True)
            await eventually_async(lambda: server.market_data.open_connections("options") == 0)
            # changed while down, asked again each second as the agent does: sent once back
            follow = asyncio.create_task(keep_wanting(stream, {PUT}, {"SPY"}))
            await asyncio.sleep(0.5)
            server.market_data.allow()
            await eventually_async(lambda: server.market_data.subscribed("options") == {PUT})
            assert stream.subscribed == ({PUT}, {"SPY"})
            follow.cancel()
            server.set_quote(CALL, 2.0, 2.1)  # no longer subscribed: not sent
            server.set_quote(PUT, 3.0, 3.1)
            assert (await next_quote(quotes, PUT)).bid == 3.0
            await stream.want(set(), {"SPY"})  # nothing to stream: the option feed disconnects
            await eventually_async(lambda: server.market_data.open_connections("options") == 0)
            assert server.market_data.open_connections("stocks") == 1
        finally:
            await stream.close()
    run(story())


def test_a_second_connection_is_refused_and_retried_until_the_first_leaves(
        server: AlpacaServer) -> None:
    async def story() -> None:
        first, second = stream_of(server), stream_of(server)
        try:
            await first.want(set(), {"SPY"})
            await eventually_async(lambda: server.market_data.open_connections("stocks") == 1)
            await second.want(set(), {"QQQ"})  # Alpaca allows one connection: 406 until free
            await asyncio.sleep(1.0)
            assert server.market_data.subscribed("stocks") == {"SPY"}
            await first.close()
            await eventually_async(lambda: server.market_data.subscribed("stocks") == {"QQQ"},
                                   timeout=20)
        finally:
            await first.close()
            await second.close()
    run(story())


# ---- the protocol on the wire -------------------------------------------------------------------
async def _talk(url: str, messages: list[dict[str, Any]], packed: bool = True) -> list[Any]:
    headers = {"Content-Type": "application/msgpack"} if packed else {}
    answers: list[Any] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        answers.append(await ws.receive())
        for message in messages:
            await ws.send_bytes(msgpack.packb(message))
            answers.append(await ws.receive())
    return [msgpack.unpackb(a.data) if a.type == aiohttp.WSMsgType.BINARY
            else a.data if a.type == aiohttp.WSMsgType.TEXT else None for a in answers]


def test_wire_messages_are_alpacas(server: AlpacaServer) -> None:
    options = f"{server.data_stream_url}/v1beta1/opra"
    answers = run(_talk(options, [
        {"action": "subscribe", "quotes": [CALL]},
        {"action": "auth", "key": KEY, "secret": SECRET},
        {"action": "subscribe", "quotes": [CALL, PUT], "trades": [CALL]},
        {"action": "unsubscribe", "quotes": [PUT]}]))
    assert answers == [
        [{"T": "success", "msg": "connected"}],
        [{"T": "error", "code": 401, "msg": "not authenticated"}],
        [{"T": "success", "msg": "authenticated"}],
        [{"T": "subscription", "trades": [CALL], "quotes": sorted([CALL, PUT])}],
        [{"T": "subscription", "trades": [CALL], "quotes": [CALL]}]]
    wrong = run(_talk(options, [{"action": "auth", "key": KEY, "secret": "nope"}]))
    assert wrong[1] == [{"T": "error", "code": 402, "msg": "auth failed"}]
    json_asked = run(_talk(options, [], packed=False))
    assert '"code": 412' in json_asked[0]


# ---- conversion ---------------------------------------------------------------------------------
CACHED = {"symbol": CALL, "underlying": "SPY", "option_type": "call", "strike": 590.0,
          "expiry": "2026-11-24", "iv": 0.18, "delta": 0.52, "open_interest": 3400,
          "volume": None, "penny": True, "bid": 2.0, "ask": 2.1, "event_time": AT_US - 10_000_000}


def test_a_streamed_option_quote_keeps_the_cached_terms_at_its_own_time() -> None:
    record = quote_record(StreamedQuote(CALL, True, 1.5, 1.56, 5, 6, AT_US), CACHED)
    assert record == {**{k: v for k, v in CACHED.items() if k not in ("bid", "ask")},
                      "bid": 1.5, "ask": 1.56, "bid_size": 5, "ask_size": 6,
                      "derived": False, "event_time": AT_US, "trace": {}}


def test_a_streamed_option_quote_not_cached_takes_its_terms_from_the_occ_symbol() -> None:
    record = quote_record(StreamedQuote(PUT, True, 0.0, 0.05, 0, 3, AT_US), None)
    assert (record["underlying"], record["option_type"], record["strike"], record["expiry"],
            record["delta"], record["open_interest"]) == ("SPY", "put", 590.0, "2026-11-24",
                                                          None, None)


def test_a_streamed_stock_quote_is_an_underlying_quote() -> None:
    record = quote_record(StreamedQuote("SPY", False, 589.99, 590.01, 2, 3, AT_US), None)
    assert (record["symbol"], record["underlying"], record["option_type"], record["bid"],
            record["event_time"]) == ("SPY", "SPY", None, 589.99, AT_US)


@pytest.mark.parametrize(("symbol", "option", "bid", "ask", "why"), [
    (CALL, True, math.nan, 1.0, "not a price"), (CALL, True, 1.0, math.inf, "not a price"),
    (CALL, True, -0.1, 1.0, "not a price"), (CALL, True, 1.2, 1.1, "no two-sided"),
    (CALL, True, 0.0, 0.0, "no two-sided"), ("SPY", False, 0.0, 590.0, "no two-sided"),
    ("SPY261124X00590000", True, 1.0, 1.1, "not an OCC"),
])
def test_bad_streamed_quotes_are_refused_with_the_reason(symbol: str, option: bool, bid: float,
                                                        ask: float, why: str) -> None:
    with pytest.raises(BadStreamedQuote, match=why):
        quote_record(StreamedQuote(symbol, option, bid, ask, 1, 1, AT_US), None)


def _entry(kind: str, strike: float, day: date = DAY) -> dict[str, Any]:
    return {"symbol": occ_symbol("SPY", day, kind, strike), "option_type": kind,
            "strike": float(strike), "expiry": day.isoformat()}


def test_near_the_money_is_the_nearest_strikes_each_side_of_todays_expiry() -> None:
    chain = [_entry(k, s) for k in ("call", "put") for s in (580, 585, 590, 595, 600)]
    chain += [_entry("call", 591, date(2026, 11, 25)), _entry("call", 589, date(2026, 11, 23))]
    spot = {"bid": 591.0, "ask": 591.2, "event_time": AT_US}
    near = near_the_money(chain, spot, 1)
    assert near == {occ_symbol("SPY", DAY, k, s) for k in ("call", "put") for s in (590, 595)}
    assert len(near_the_money(chain, spot, 2)) == 8
    assert near_the_money(chain, None, 2) == set() and near_the_money(chain, spot, 0) == set()
    held = occ_symbol("SPY", DAY, "put", 580)
    assert streamed_contracts([held], {"SPY": chain}, {"SPY": spot}, 1) == near | {held}

