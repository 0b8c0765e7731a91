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

import pytest

from connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from domain.market_hours import MarketCalendar
from domain.pricing import bs_price, occ_symbol, year_fraction_us
from streams.settings import Settings
from tests.conftest import eventually
from tests.integration.helpers import Run, post

pytestmark = pytest.mark.integration

KEY, SECRET = "PKINTEGRATION01", "integration-secret-0123456789"
BULLISH = "$SPY breaking out, loading calls 🚀"
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


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings], tmp_path: Path,
        alpaca: AlpacaServer) -> Iterator[Run]:
    pipeline_run = Run(run_settings(kafka_bootstrap), tmp_path)
    pipeline_run.worker_env.update({
        "SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO",
        "TRADING_BROKER": "alpaca", "ALPACA_API_KEY": KEY, "ALPACA_SECRET_KEY": SECRET,
        "ALPACA_TRADING_URL": alpaca.url, "ALPACA_DATA_URL": alpaca.url,
        "ALPACA_STREAM_URL": alpaca.stream_url, "ALPACA_CHAIN_REFRESH_S": "0.5",
        "ALPACA_POLL_INTERVAL_S": "0.5"})
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


def test_entry_restart_and_exit_through_alpaca(run: Run, alpaca: AlpacaServer) -> None:
    market = Market(alpaca, trading_day())
    market.quote(SPOT)
    run.start_worker()
    # The chain agent has filed Alpaca's chain before the posts arrive.
    eventually(lambda: alpaca.count("GET", "/v1beta1/options/snapshots/SPY") >= 2, timeout=60)
    for n in range(5):
        run.send("posts", "Post", f"a-{n}", post(f"a-{n}", f"author{n}", BULLISH, market.now_us()))
    entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
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
