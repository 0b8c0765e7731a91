"""The Alpaca option chain (contracts + snapshots, local greeks) and the rate limiter, with
the real alpaca-py clients against the local Alpaca server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.models import OptionContractsResponse
from alpaca.trading.requests import GetOptionContractsRequest
from pydantic import SecretStr

from stocktracker.connectors.alpaca import convert
from stocktracker.connectors.alpaca.chain import AlpacaChain, with_local_greeks
from stocktracker.connectors.alpaca.config import AlpacaSettings
from stocktracker.connectors.alpaca.limiter import RateLimiter
from stocktracker.connectors.broker import BrokerError
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.domain.contracts import ChainQuote, expiry_close_us
from stocktracker.domain.pricing import bs_price, occ_symbol, year_fraction_us

KEY, SECRET = "PKCHAINKEY", "chain-secret"
DAY = date(2026, 11, 24)
NOW_US = int(datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp()) * 1_000_000  # 10:00 New York
SPOT = 590.0


def sym(kind: str, strike: float, day: date = DAY) -> str:
    return occ_symbol("SPY", day, kind, strike)


def chain(server: AlpacaServer, **kw: Any) -> AlpacaChain:
    options: dict[str, Any] = {"backoff_s": 0.01, "backoff_cap_s": 0.05, "timeout_s": 2.0,
                               "now_us": lambda: NOW_US}
    options.update(kw)
    return AlpacaChain(KEY, SECRET, trading_url=server.url, data_url=server.url, **options)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


@pytest.fixture
def server() -> Iterator[AlpacaServer]:
    with serve_in_thread(AlpacaServer(KEY, SECRET)) as s:
        s.account.clock = lambda: datetime.fromtimestamp(NOW_US / 1e6, UTC)  # quotes' time
        s.set_stock_quote("SPY", SPOT - 0.01, SPOT + 0.01)
        for strike, oi in ((585, 1200), (590, 3400), (595, 800)):
            s.add_contract(sym("call", strike), open_interest=oi)
            s.add_contract(sym("put", strike), open_interest=oi // 2)
        s.add_contract(sym("call", 590, date(2026, 11, 25)), open_interest=50)  # another expiry
        s.set_quote(sym("call", 585), 5.60, 5.70, 20, 25)
        s.set_quote(sym("call", 590), 2.10, 2.16, 30, 40)
        s.set_quote(sym("call", 595), 0.55, 0.58, 50, 60)
        s.set_quote(sym("put", 585), 0.70, 0.74, 15, 15)
        s.set_quote(sym("put", 590), 2.05, 2.11, 10, 12)
        # put 595 is listed but nobody quotes it
        s.set_quote(sym("call", 590, date(2026, 11, 25)), 3.00, 3.10, 5, 5)
        s.set_greeks(sym("call", 590), iv=0.145, delta=0.52)
        yield s


def test_fetch_merges_contracts_and_snapshots(server: AlpacaServer) -> None:
    quotes = run(chain(server).fetch("SPY", DAY))
    by = {q.symbol: q for q in quotes}
    assert sorted(by) == sorted([sym("call", 585), sym("call", 590), sym("call", 595),
                                 sym("put", 585), sym("put", 590)])  # no quote: left out
    atm = by[sym("call", 590)]
    assert (atm.bid, atm.ask, atm.bid_size, atm.ask_size) == (2.10, 2.16, 30, 40)
    assert (atm.iv, atm.delta, atm.open_interest) == (0.145, 0.52, 3400)  # Alpaca's greeks kept
    assert (atm.option_type, atm.strike, atm.expiry) == ("call", 590.0, "2026-11-24")
    assert by[sym("put", 585)].open_interest == 600
    assert atm.quote_us > 0 and atm.volume is None
    feeds = [q.get("feed") for m, p, q in server.requests if "/options/snapshots/SPY" in p]
    assert feeds == ["indicative"]
    contracts = [q for m, p, q in server.requests if p == "/v2/options/contracts"]
    assert contracts[0]["underlying_symbols"] == "SPY" and contracts[0]["expiration_date"] == "2026-11-24"


def test_the_penny_flag_is_read_from_the_contracts_json(server: AlpacaServer) -> None:
    """alpaca-py's ``OptionContract`` drops ``ppind``; the chain reads it from the JSON."""
    server.add_contract(sym("put", 595), open_interest=10, penny=False)  # listed again: nickel
    server.set_quote(sym("put", 595), 1.05, 1.15, 5, 5)
    quotes = {q.symbol: q for q in run(chain(server).fetch("SPY", DAY))}
    assert quotes[sym("put", 595)].penny is False
    assert quotes[sym("call", 590)].penny is True
    record = quotes[sym("put", 595)].to_record("SPY")
    assert record["penny"] is False and ChainQuote.from_dict(record).penny is False


def test_a_contracts_page_that_is_no_page_is_a_broker_error() -> None:
    with pytest.raises(BrokerError, match="no contracts"):
        convert.contracts_page({"option_contracts": [{"symbol": "SPY"}]})
    page, penny = convert.contracts_page({"option_contracts": [], "next_page_token": None})
    assert page.option_contracts == [] and penny == {}


def test_contracts_without_a_date_filter_are_only_this_weeks(server: AlpacaServer) -> None:
    """As Alpaca: no ``expiration_date*`` parameter, only contracts expiring by the coming
    weekend (the clock says Tuesday 2026-11-24; the weekend ends Sunday 2026-11-29)."""
    friday, next_friday = date(2026, 11, 27), date(2026, 12, 4)
    server.add_contract(sym("call", 600, friday), open_interest=10)
    server.add_contract(sym("call", 600, next_friday), open_interest=10)
    trading = TradingClient(KEY, SECRET, url_override=server.url)
    page = trading.get_option_contracts(GetOptionContractsRequest(underlying_symbols=["SPY"]))
    assert isinstance(page, OptionContractsResponse) and page.option_contracts
    days = {c.expiration_date for c in page.option_contracts}
    assert days == {DAY, date(2026, 11, 25), friday}  # not next week's
    later = trading.get_option_contracts(GetOptionContractsRequest(
        underlying_symbols=["SPY"], expiration_date_gte=next_friday))
    assert isinstance(later, OptionContractsResponse) and later.option_contracts
    assert {c.expiration_date for c in later.option_contracts} == {next_friday}
    # on a Saturday the coming weekend is next week's
    server.account.clock = lambda: datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    page = trading.get_option_contracts(GetOptionContractsRequest(underlying_symbols=["SPY"]))
    assert isinstance(page, OptionContractsResponse) and page.option_contracts
    assert {c.expiration_date for c in page.option_contracts} == {DAY, date(2026, 11, 25), friday,
                                                                   next_friday}
    trading._session.close()


def test_the_chain_always_sends_a_date_filter(server: AlpacaServer) -> None:
    """Our requests never rely on Alpaca's default (this week's contracts only)."""
    c = chain(server)
    run(c.fetch("SPY", date(2026, 11, 25)))
    assert run(c.nearest_expiry("SPY", DAY)) == DAY
    server.add_contract(sym("call", 600, date(2026, 12, 4)), open_interest=10)
    assert run(c.nearest_expiry("SPY", date(2026, 11, 30))) == date(2026, 12, 4)  # next week's
    run(c.close())
    asked = [q for m, p, q in server.requests if p == "/v2/options/contracts"]
    assert len(asked) == 3
    assert all(q.get("expiration_date") or (q.get("expiration_date_gte") and q.get("expiration_date_lte"))
               for q in asked)


def test_greeks_are_computed_locally_when_the_snapshot_has_none(server: AlpacaServer) -> None:
    # at each quote's own time (10:00 New York), not the fetching machine's clock
    quotes = {q.symbol: q for q in run(chain(server, now_us=lambda: NOW_US + 3_600_000_000)
                                       .fetch("SPY", DAY))}
    t_years = year_fraction_us(NOW_US, expiry_close_us("2026-11-24"))
    for q in quotes.values():
        assert q.iv is not None and q.iv > 0 and q.delta is not None
        if q.symbol == sym("call", 590):
            continue
        # the IV reproduces the mid, the delta has the right sign and order
        assert bs_price(SPOT, q.strike, t_years, q.iv, 0.04, q.option_type) == pytest.approx(q.mid, abs=1e-3)
    calls = [quotes[sym("call", k)].delta for k in (585, 595)]
    assert 0.5 < calls[0] < 1 and 0 < calls[1] < 0.5  # ITM call above OTM call
    assert -0.5 < quotes[sym("put", 585)].delta < 0  # type: ignore[operator]
    assert server.count("GET", "/v2/stocks/quotes/latest") == 1  # the spot, once


def test_a_given_spot_is_used_and_no_quote_is_asked(server: AlpacaServer) -> None:
    quotes = run(chain(server).fetch("SPY", DAY, spot=600.0))
    assert server.count("GET", "/v2/stocks") == 0
    call_585 = next(q for q in quotes if q.symbol == sym("call", 585))
    assert call_585.iv == pytest.approx(0.0001, abs=1e-3)  # mid below intrinsic at 600: floor IV


def test_pagination_of_contracts_and_snapshots() -> None:
    with serve_in_thread(AlpacaServer(KEY, SECRET, page_size=2)) as s:
        for strike in range(580, 601):
            s.add_contract(sym("call", strike), open_interest=strike)
            s.set_quote(sym("call", strike), 1.0, 1.1, 1, 1)
            s.set_greeks(sym("call", strike), iv=0.2, delta=0.5)
        limiter = RateLimiter(limit=1000)
        quotes = run(chain(s, page_size=5, limiter=limiter).fetch("SPY", DAY))
        assert len(quotes) == 21 and all(q.open_interest == q.strike for q in quotes)
        assert s.count("GET", "/v2/options/contracts") == 11  # 2 a page (the server's cap)
        assert s.count("GET", "/v1beta1/options/snapshots/SPY") == 11
        tokens = [q.get("page_token") for m, p, q in s.requests if p == "/v2/options/contracts"]
        assert tokens == [None, *[str(n) for n in range(2, 21, 2)]]
        # every page went through the shared limiter, the SDK's own paging too
        assert limiter.in_window == len(s.requests) == 22


def test_the_limiter_holds_requests_back() -> None:
    with serve_in_thread(AlpacaServer(KEY, SECRET)) as s:
        s.set_stock_quote("SPY", 589.0, 591.0)
        limiter = RateLimiter(limit=2, window_s=0.4)
        c = chain(s, limiter=limiter)
        started = time.monotonic()

        async def three() -> list[float]:
            return [await c.spot("SPY") for _ in range(3)]

        assert run(three()) == [590.0, 590.0, 590.0]
        assert time.monotonic() - started >= 0.3
        assert limiter.waited_s > 0.2


def test_opra_feed_and_retries(server: AlpacaServer) -> None:
    server.fail_next("snapshots", 503)
    server.fail_next("contracts", 429)
    quotes = run(chain(server, feed="opra").fetch("SPY", DAY))
    assert len(quotes) == 5
    feeds = [q.get("feed") for m, p, q in server.requests if "/options/snapshots/" in p]
    assert feeds == ["opra", "opra"]
    with pytest.raises(ValueError, match="feed"):
        chain(server, feed="sip")


def test_errors(server: AlpacaServer) -> None:
    with pytest.raises(BrokerError, match="no two-sided quote"):
        run(chain(server).spot("QQQ"))
    server.fail_next("snapshots", 500, count=10)
    with pytest.raises(BrokerError, match="after 2 attempts"):
        run(chain(server, max_retries=1).fetch("SPY", DAY))
    bad = AlpacaChain(KEY, "wrong", trading_url=server.url, data_url=server.url)
    with pytest.raises(BrokerError, match="refused the API keys"):
        run(bad.fetch("SPY", DAY))


def test_from_settings(server: AlpacaServer) -> None:
    a = AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), trading_url=server.url,
                       data_url=server.url, options_feed="opra")
    c = AlpacaChain.from_settings(a)
    assert c.feed == "opra" and c.limiter.limit == 200
    assert run(c.spot("SPY")) == pytest.approx(SPOT)
    run(c.close())


def test_quote_record_matches_the_quote_schema() -> None:
    q = ChainQuote(sym("put", 585), "put", 585.0, "2026-11-24", 0.70, 0.74, NOW_US, 15, 16, 0.18,
                   -0.21, 300, None)
    record = q.to_record("SPY")
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "quote.avsc").read_text())
    assert set(record) == {f["name"] for f in schema["fields"]}
    assert record["underlying"] == "SPY" and record["event_time"] == NOW_US and record["trace"] == {}
    assert ChainQuote.from_dict(record) == q


def test_local_greeks_leave_complete_or_empty_quotes_alone() -> None:
    full = ChainQuote(sym("call", 590), "call", 590.0, "2026-11-24", 2.1, 2.2, NOW_US, iv=0.2, delta=0.5)
    assert with_local_greeks(full, SPOT, NOW_US, 0.04) is full
    empty = ChainQuote(sym("call", 590), "call", 590.0, "2026-11-24", 0.0, 0.0, NOW_US)
    assert with_local_greeks(empty, SPOT, NOW_US, 0.04) is empty
    half = ChainQuote(sym("call", 590), "call", 590.0, "2026-11-24", 2.1, 2.2, NOW_US, iv=0.2)
    done = with_local_greeks(half, SPOT, NOW_US, 0.04)
    assert done.iv == 0.2 and done.delta is not None and 0.45 < done.delta < 0.6


# ---- the rate limiter on a fake clock -------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def block(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_limiter_allows_the_limit_per_window_then_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=3, window_s=60.0, clock=clock, sleep=clock.sleep)

    async def take(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()

    for _ in range(3):
        asyncio.run(take(1))
        clock.now += 10
    assert clock.slept == [] and limiter.in_window == 3  # at 1000, 1010, 1020; now 1030
    asyncio.run(take(1))
    assert clock.slept == [pytest.approx(30.0)]  # until the first call leaves the window
    assert limiter.in_window == 3 and limiter.waited_s == pytest.approx(30.0)
    clock.now += 60
    assert limiter.in_window == 0
    asyncio.run(take(3))
    assert len(clock.slept) == 1


def test_limiter_slides_and_blocks_in_threads() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=2, window_s=1.0, clock=clock, block=clock.block)
    assert limiter.try_acquire() == 0.0
    clock.now += 0.5
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == pytest.approx(0.5)  # not taken
    limiter.wait_blocking()
    assert clock.slept == [pytest.approx(0.5)] and clock.now == pytest.approx(1001.0)
    assert limiter.try_acquire() == pytest.approx(0.5)  # the second and third are in the window
    with pytest.raises(ValueError):
        RateLimiter(limit=0)
