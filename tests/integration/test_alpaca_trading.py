"""The worker trading through the real alpaca-py clients against the local Alpaca server.

The chain comes from Alpaca's contracts and snapshots (the chain agent), the entry is
acknowledged and filled over the trade-updates websocket, the worker is restarted with the
position open and finds it at the broker, and the profit-target exit closes it at Alpaca.

The server's clock is set to 10:00 New York on the test day (the last session before today,
so the market is open whatever time the test runs and Kafka takes the timestamps); posts
are stamped with that clock too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.pricing import bs_price, occ_symbol, year_fraction_us
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.samples import post
from tests.integration.helpers import BULLISH
from tests.waiting import eventually

pytestmark = pytest.mark.integration

KEY, SECRET = "PKINTEGRATION01", "integration-secret-0123456789"
SPOT = 590.0


def trading_day() -> date:
    """The last NYSE session before today (Kafka refuses timestamps an hour ahead)."""
    calendar, day = MarketCalendar(), datetime.now(UTC).date() - timedelta(days=1)
    while calendar.session_on(day) is None:
        day -= timedelta(days=1)
    return day


class Market:
    """The local Alpaca server's quotes for one underlying on one expiry day."""

    def __init__(self, server: AlpacaServer, day: date) -> None:
        self.server, self.day = server, day
        session = MarketCalendar().session_on(day)
        assert session is not None
        self.close_us = session.close_us
        self.start_us = session.open_us + 30 * 60_000_000  # 10:00 New York
        self.wall_start = time.time()
        server.account.clock = lambda: datetime.fromtimestamp(self.now_us() / 1e6, UTC)

    def now_us(self) -> int:
        """The server's clock: 10:00 New York on the test day, running with the wall clock."""
        return self.start_us + int((time.time() - self.wall_start) * 1e6)

    def quote(self, spot: float) -> None:
        """Quote the underlying and a chain of calls and puts around ``spot``."""
        self.server.set_stock_quote("SPY", spot - 0.01, spot + 0.01)
        t = year_fraction_us(self.now_us(), self.close_us)
        for strike in range(int(SPOT) - 4, int(SPOT) + 5):
            for kind in ("call", "put"):
                symbol = occ_symbol("SPY", self.day, kind, strike)
                price = bs_price(spot, strike, t, 0.15, 0.04, kind)
                self.server.add_contract(symbol, open_interest=5_000)
                self.server.set_quote(symbol, round(max(price - 0.02, 0.01), 2),
                                      round(price + 0.02, 2), 50, 50)


@pytest.fixture
def alpaca() -> Iterator[AlpacaServer]:
    with serve_in_thread(AlpacaServer(api_key=KEY, secret_key=SECRET)) as server:
        yield server


def alpaca_worker(settings: Settings, tmp_path: Path, alpaca: AlpacaServer,
                  **env: str) -> Iterator[Run]:
    """A worker trading through alpaca-py against ``alpaca`` (its REST, its trade-updates
    and market-data websockets), with ``env`` laid over; closed when the test ends."""
    pipeline_run = Run(settings, tmp_path)
    pipeline_run.worker_env.update({
        "SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO",
        "TRADING_BROKER": "alpaca", "ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET,
        "ALPACA_TRADING_URL": alpaca.url, "ALPACA_DATA_URL": alpaca.url,
        "ALPACA_STREAM_URL": alpaca.stream_url, "ALPACA_DATA_STREAM_URL": alpaca.data_stream_url,
        **env})
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings], tmp_path: Path,
        alpaca: AlpacaServer) -> Iterator[Run]:
    yield from alpaca_worker(run_settings(kafka_bootstrap), tmp_path, alpaca,
                             ALPACA_CHAIN_REFRESH_S="0.5", ALPACA_POLL_INTERVAL_S="0.5")


def enter(run: Run, alpaca: AlpacaServer) -> tuple[Market, dict[str, Any]]:
    """Quote the market, start the worker, and buy on a bullish burst; the filled entry."""
    market = Market(alpaca, trading_day())
    market.quote(SPOT)
    run.start_worker()
    # The chain agent has filed Alpaca's chain before the posts arrive.
    eventually(lambda: alpaca.count("GET", "/v1beta1/options/snapshots/SPY") >= 2, timeout=60)
    for n in range(5):
        run.send("posts", "Post", f"a-{n}", post(f"a-{n}", f"author{n}", BULLISH, market.now_us()))
    return market, eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]


def test_entry_restart_and_exit_through_alpaca(run: Run, alpaca: AlpacaServer) -> None:
    market, entry = enter(run, alpaca)
    assert entry["broker"] == "alpaca" and entry["broker_order_id"]
    assert entry["option_type"] == "call" and entry["expiry"] == market.day.isoformat()
    assert entry["filled_qty"] == entry["qty"] >= 1
    held = alpaca.account.positions[entry["symbol"]]
    assert held[0] == entry["filled_qty"] and alpaca.order_count() == 1

    run.stop_worker()
    run.start_worker(fresh_state=True)  # tables only from the changelogs; the broker agrees
    positions = eventually(lambda: [p for p in run.records("positions")
                                    if p["symbol"] == entry["symbol"]])
    assert positions[-1]["qty"] == entry["filled_qty"]
    assert alpaca.order_count() == 1  # nothing sent again on restart

    market.quote(SPOT + 3)  # the call is worth far more: the profit target fires
    rested = eventually(lambda: run.orders(intent="close"), timeout=60)[0]
    assert rested["symbol"] == entry["symbol"] and "profit" in (rested["reason"] or "")
    market.quote(SPOT + 3.5)  # a bid through the exit's limit: it fills at Alpaca
    closed = eventually(lambda: run.orders(intent="close", status="filled"), timeout=60)[0]
    assert closed["filled_qty"] == entry["filled_qty"]
    assert closed["filled_avg_price"] > entry["filled_avg_price"] * 1.5
    eventually(lambda: entry["symbol"] not in alpaca.account.positions
               or alpaca.account.positions[entry["symbol"]][0] == 0)
    assert alpaca.order_count() == 2


def alpaca_pnl(server: AlpacaServer, symbol: str) -> float:
    """Realised P&L of a closed round trip at Alpaca, from its FILL activities (no
    commission on options)."""
    with server._lock:
        fills = [f for f in server.account.fills if f["symbol"] == symbol]
    signed = sum(float(f["price"]) * int(f["qty"]) * (1 if f["side"] == "sell" else -1)
                 for f in fills)
    return signed * 100


def test_kill_9_after_fills_and_a_fill_made_while_dead_book_equals_alpaca(
        run: Run, alpaca: AlpacaServer) -> None:
    run.worker_env["STREAM_COMMIT_INTERVAL_S"] = "60"  # every fill is delivered again
    market, entry = enter(run, alpaca)
    symbol = entry["symbol"]
    eventually(lambda: [p for p in run.records("positions") if p["symbol"] == symbol])
    run.kill_worker()  # right after the buy's fill

    run.start_worker()
    alpaca.replay(entry["client_order_id"])  # Alpaca sends the same fill again, same ids
    market.quote(SPOT + 3)  # the profit target rests at Alpaca
    eventually(lambda: run.orders(intent="close", status="new"), timeout=60)
    run.kill_worker()  # the exit rests; the worker dies
    market.quote(SPOT + 3.5)  # and the exit fills at Alpaca while no worker runs
    eventually(lambda: alpaca.account.positions.get(symbol, (0,))[0] == 0, timeout=30)

    run.start_worker()  # reconciliation books the fill it never saw, with its money
    closed = eventually(lambda: [p for p in run.records("positions")
                                 if p["symbol"] == symbol and p["qty"] == 0], timeout=60)[-1]
    broker_pnl = alpaca_pnl(alpaca, symbol)
    assert broker_pnl > 0
    assert round(closed["realized_pnl"], 2) == round(broker_pnl, 2), \
        f"book {closed['realized_pnl']:.2f} != Alpaca {broker_pnl:.2f}"
    assert alpaca.order_count() == 2  # one entry, one exit: nothing sent twice
    later = [p for p in run.records("positions") if p["symbol"] == symbol]
    later = later[later.index(closed):]  # restated by fills delivered again: never moved
    assert {(p["qty"], round(p["realized_pnl"], 2)) for p in later} == {(0, round(broker_pnl, 2))}
