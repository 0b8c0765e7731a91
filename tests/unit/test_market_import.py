"""``import market``'s importer with the real alpaca-py clients against the local Alpaca
server's historical data endpoints: pages, expired contracts, gaps, a 429, a day killed
and imported again from the cache. The records go to a hand-written producer that keeps
them (the real broker is tests/integration/test_import_market.py)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from stocktracker.connectors.alpaca.limiter import RateLimiter
from stocktracker.connectors.history.market import (
    DayReport,
    DoneMarkers,
    MarketImportConfig,
    import_market,
    report_table,
)
from stocktracker.connectors.history.market_quotes import BAR_US, parse_time_us
from stocktracker.connectors.history.market_source import AlpacaHistory, MarketCache, RetryingSession
from stocktracker.connectors.simulated.alpaca_history import HistoryData, generate_history
from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.domain.contracts import ChainQuote, ContractRule, choose
from stocktracker.domain.market_hours import MarketCalendar, Session
from stocktracker.domain.pricing import occ_symbol

KEY, SECRET = "PKHISTKEY", "hist-secret"
DAYS = (date(2024, 2, 1), date(2024, 2, 2))
EACH_SIDE = 3
CONFIG = MarketImportConfig(strikes_each_side=EACH_SIDE, window_pct=3.0)


def sessions() -> list[Session]:
    found = [MarketCalendar().session_on(d) for d in DAYS]
    assert all(s is not None for s in found)
    return [s for s in found if s is not None]


@dataclass
class KeptProducer:
    """Keeps what is sent; acknowledges at once unless ``ack`` is False."""

    ack: bool = True
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    failed: int = 0

    def send(self, topic: str, record_name: str, key: str, record: dict[str, Any],
             on_delivered: Callable[[], None] | None = None) -> None:
        self.sent.append((topic, key, record))
        if self.ack and on_delivered is not None:
            on_delivered()

    def flush(self, timeout: float = 30.0) -> int:
        return 0 if self.ack else len(self.sent)

    def topic(self, name: str) -> list[dict[str, Any]]:
        return [r for t, _, r in self.sent if t == name]


@pytest.fixture
def data() -> HistoryData:
    return generate_history("SPY", sessions(), seed=7, listed_each_side=6, gap_share=0.05)


@pytest.fixture
def server(data: HistoryData) -> Iterator[AlpacaServer]:
    with serve_in_thread(AlpacaServer(KEY, SECRET, page_size=150)) as s:
        s.history.load(data)
        yield s


def history(server: AlpacaServer, cache: Path, sleeps: list[float] | None = None) -> AlpacaHistory:
    waits = sleeps if sleeps is not None else []
    session = RetryingSession(5.0, RateLimiter(10_000), retries=4, backoff_s=0.01,
                              sleep=waits.append)
    return AlpacaHistory(KEY, SECRET, MarketCache(cache), RateLimiter(10_000),
                         trading_url=server.url, data_url=server.url, session=session)


def run(server: AlpacaServer, cache: Path, producer: KeptProducer, *, force: bool = False,
        sleeps: list[float] | None = None,
        on_day: Callable[[DayReport], None] = lambda _: None) -> list[DayReport]:
    source = history(server, cache, sleeps)
    try:
        return import_market(source, producer, sessions(), ["SPY"], CONFIG,
                             DoneMarkers(cache, "t."), force=force, on_day=on_day)
    finally:
        source.close()


def chosen_symbols(data: HistoryData, day: date) -> list[str]:
    open_price = data.stock_bars["SPY"][0 if day == DAYS[0] else 390]["o"]
    strikes = sorted({round(open_price) + k for k in range(-6, 7)})
    below = [s for s in strikes if s < open_price][-EACH_SIDE:]
    above = [s for s in strikes if s >= open_price][:EACH_SIDE]
    return sorted(occ_symbol("SPY", day, kind, s) for s in below + above for kind in ("call", "put"))


def test_two_days_arrive_page_by_page_as_derived_quotes_at_each_bar_end(
        server: AlpacaServer, data: HistoryData, tmp_path: Path) -> None:
    server.add_contract(occ_symbol("SPY", DAYS[0], "call", 500.5))  # active: not an expired one
    producer = KeptProducer()
    reports = run(server, tmp_path, producer)

    assert [r.status for r in reports] == ["imported", "imported"]
    assert [r.contracts for r in reports] == [2 * 2 * EACH_SIDE] * 2
    quotes = producer.topic("quotes")
    for report, day in zip(reports, DAYS, strict=True):
        symbols = chosen_symbols(data, day)
        served = 390 + sum(len(data.option_bars[s]) for s in symbols)
        assert report.bars == report.quotes == served
        assert {q["symbol"] for q in quotes if q["expiry"] == day.isoformat()} == set(symbols)
    assert len(quotes) == sum(r.quotes for r in reports)
    assert all(q["derived"] for q in quotes)
    assert [q["event_time"] for q in quotes] == sorted(q["event_time"] for q in quotes)
    # each quote one minute after its bar's start, around the bar's close
    bar = data.stock_bars["SPY"][0]
    first = next(q for q in quotes if q["symbol"] == "SPY")
    assert first["event_time"] == parse_time_us(bar["t"]) + BAR_US
    # at one instant the contracts come first, their underlying last
    instant = [q for q in quotes if q["event_time"] == first["event_time"]]
    assert len(instant) > 1 and instant[-1] is first
    assert first["bid"] < bar["c"] < first["ask"]
    # pages: 390 underlying bars at 150 a page is 3 requests a day
    assert server.count("GET", "/v2/stocks/bars") == 2 * 3
    # and the contracts' bars, all in one request a day, page after page
    pages = sum(math.ceil(sum(len(data.option_bars[s]) for s in chosen_symbols(data, d)) / 150)
                for d in DAYS)
    assert pages > 2 * 20 and server.count("GET", "/v1beta1/options/bars") == pages


def test_a_minute_without_a_bar_gives_no_quote(server: AlpacaServer, data: HistoryData,
                                               tmp_path: Path) -> None:
    producer = KeptProducer()
    run(server, tmp_path, producer)
    quotes = producer.topic("quotes")
    gappy = next(s for s in chosen_symbols(data, DAYS[0]) if len(data.option_bars[s]) < 390)
    served = {parse_time_us(b["t"]) + BAR_US for b in data.option_bars[gappy]}
    got = [q["event_time"] for q in quotes if q["symbol"] == gappy]
    assert sorted(got) == sorted(served) and len(got) < 390


def test_option_quotes_carry_an_iv_and_a_delta_a_contract_can_be_chosen_by(
        server: AlpacaServer, tmp_path: Path) -> None:
    producer = KeptProducer()
    run(server, tmp_path, producer)
    quotes = producer.topic("quotes")
    s = sessions()[0]
    at = s.open_us + 60 * 60_000_000  # 10:30 New York
    latest: dict[str, dict[str, Any]] = {}
    for q in quotes:
        if q["event_time"] <= at:
            latest[q["symbol"]] = q
    spot_q = latest.pop("SPY")
    chain = [ChainQuote.from_dict(q) for q in latest.values()]
    assert all(q.iv is not None and q.iv > 0 and q.delta is not None for q in chain)
    assert all(0 < (q.delta or 0) < 1 for q in chain if q.option_type == "call")
    spot = (spot_q["bid"] + spot_q["ask"]) / 2
    picked = choose(chain, spot, "bullish", DAYS[0], at, ContractRule(target_delta=0.5,
                                                                       delta_tolerance=0.3))
    assert picked.ok, picked.reason
    assert picked.contract is not None and picked.contract.option_type == "call"
    assert picked.delta is not None and abs(picked.delta - 0.5) < 0.3


def test_a_429_is_waited_out_as_retry_after_asks_and_nothing_is_lost(
        server: AlpacaServer, data: HistoryData, tmp_path: Path) -> None:
    server.history.throttle_next(count=2, retry_after_s=1.5)
    sleeps: list[float] = []
    producer = KeptProducer()
    reports = run(server, tmp_path, producer, sleeps=sleeps)
    assert [r.status for r in reports] == ["imported", "imported"]
    assert server.history.throttled == 2 and sleeps.count(1.5) == 2
    served = sum(390 + sum(len(data.option_bars[s]) for s in chosen_symbols(data, d)) for d in DAYS)
    assert len(producer.topic("quotes")) == served


def test_a_day_killed_midway_is_imported_on_the_rerun_from_what_is_left_to_ask(
        server: AlpacaServer, tmp_path: Path) -> None:
    def kill_the_second_day(report: DayReport) -> None:
        if report.day == DAYS[0]:
            server.fail_next("GET /v1beta1/options/bars", status=503, count=100)

    first = run(server, tmp_path, KeptProducer(), on_day=kill_the_second_day)
    assert [r.status for r in first] == ["imported", "failed"]
    assert first[1].error is not None and "503" in first[1].error
    server.faults.clear()
    server.requests.clear()

    producer = KeptProducer()
    second = run(server, tmp_path, producer)
    assert [r.status for r in second] == ["skipped", "imported"]
    asked = [(path, q) for _, path, q in server.requests]
    assert asked and all(path == "/v1beta1/options/bars" for path, _ in asked)  # the rest: cached
    assert all(q["start"].startswith(DAYS[1].isoformat()) for _, q in asked)
    assert {q["expiry"] for q in producer.topic("quotes") if q["expiry"]} == {DAYS[1].isoformat()}
    assert "skipped" in report_table(second)


def test_a_forced_rerun_reads_the_cache_and_asks_alpaca_nothing(
        server: AlpacaServer, tmp_path: Path) -> None:
    first = KeptProducer()
    run(server, tmp_path, first)
    server.requests.clear()
    again = KeptProducer()
    reports = run(server, tmp_path, again, force=True)
    assert [r.status for r in reports] == ["imported", "imported"]
    assert server.requests == [] and all(r.requests == 0 for r in reports)
    assert again.topic("quotes") == first.topic("quotes")


def test_a_day_the_broker_did_not_acknowledge_is_not_marked_done(
        server: AlpacaServer, tmp_path: Path) -> None:
    reports = run(server, tmp_path, KeptProducer(ack=False))
    assert [r.status for r in reports] == ["failed", "failed"]
    assert "acknowledged 0" in (reports[0].error or "")
    assert [r.status for r in run(server, tmp_path, KeptProducer())] == ["imported", "imported"]


def test_an_unreadable_bar_goes_to_deadletter_not_to_quotes(
        server: AlpacaServer, data: HistoryData, tmp_path: Path) -> None:
    bars = data.stock_bars["SPY"]
    bars[5] = {**bars[5], "c": math.nan}  # served as NaN, read back as a float nan
    del bars[6]["h"]
    producer = KeptProducer()
    reports = run(server, tmp_path, producer)
    dead = producer.topic("deadletter")
    assert reports[0].malformed == 2 and len(dead) == 2
    assert "'c' must be a finite number" in dead[0]["reason"] and "'h'" in dead[1]["reason"]
    assert all(math.isfinite(q["bid"]) for q in producer.topic("quotes"))
    assert reports[0].quotes == reports[0].bars - 2


def test_trades_when_asked_are_quoted_at_their_own_times(tmp_path: Path) -> None:
    day = sessions()[:1]
    data = generate_history("SPY", day, seed=3, listed_each_side=4, gap_share=0.0,
                            trades_per_bar=2)
    with serve_in_thread(AlpacaServer(KEY, SECRET, page_size=500)) as server:
        server.history.load(data)
        producer = KeptProducer()
        source = history(server, tmp_path)
        config = MarketImportConfig(strikes_each_side=1, trades=True)
        [report] = import_market(source, producer, day, ["SPY"], config,
                                 DoneMarkers(tmp_path, ""))
        source.close()
    symbols = {q["symbol"] for q in producer.topic("quotes")} - {"SPY"}
    assert len(symbols) == 4 and report.contracts == 4
    trades = [t for s in (*symbols, "SPY")
              for t in (data.option_trades | data.stock_trades)[s]]
    assert report.trades == len(trades) == (4 + 1) * 390 * 2
    assert report.quotes == report.bars + report.trades
    times = {q["event_time"] for q in producer.topic("quotes")}
    assert {parse_time_us(t["t"]) for t in trades} <= times
    assert server.count("GET", "/v1beta1/options/trades") > 0
