"""A held position's stop fires on a streamed quote, before the REST refresh comes again.

The worker trades through the real alpaca-py clients against the local Alpaca server, with
the chain refreshed by REST only every ``REFRESH_S`` seconds: the entry is made on that
chain, the held contract is then streamed (alpaca-py's OptionDataStream on the server's
msgpack websocket), and the contract's quote falls through the stop right after a refresh.
Only the stream can deliver that fall before the next refresh, so an exit sent before any
further snapshot request proves the stop ran on the streamed quote. The market-data
connections are then dropped (and refused a while); after the reconnect the held
contract's subscription is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stocktracker.connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.samples import post
from tests.integration.helpers import BULLISH
from tests.integration.test_alpaca_trading import (
    KEY,
    SECRET,
    SPOT,
    Market,
    alpaca_worker,
    trading_day,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

REFRESH_S = 30.0
SNAPSHOTS = "/v1beta1/options/snapshots/SPY"


@pytest.fixture
def alpaca() -> Iterator[AlpacaServer]:
    with serve_in_thread(AlpacaServer(api_key=KEY, secret_key=SECRET)) as server:
        yield server


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings], tmp_path: Path,
        alpaca: AlpacaServer) -> Iterator[Run]:
    yield from alpaca_worker(run_settings(kafka_bootstrap), tmp_path, alpaca,
                             ALPACA_CHAIN_REFRESH_S=str(REFRESH_S), ALPACA_POLL_INTERVAL_S="0.5",
                             ALPACA_STREAM_SYNC_S="0.5", ALPACA_STREAM_STRIKES="3")


def test_a_stop_fires_on_a_streamed_quote_before_the_next_refresh(
        run: Run, alpaca: AlpacaServer) -> None:
    market = Market(alpaca, trading_day())
    market.quote(SPOT)
    run.start_worker()
    # One refresh as the owner has filed the chain (the first may come before ownership).
    eventually(lambda: alpaca.count("GET", SNAPSHOTS) >= 1, timeout=REFRESH_S * 2 + 30)
    near = eventually(lambda: alpaca.market_data.subscribed("options"), timeout=30)
    assert len(near) == 12  # the calls and puts of three strikes each side of the spot
    assert alpaca.market_data.subscribed("stocks") == {"SPY"}
    # The market moves on: only the stream brings these quotes before the next refresh,
    # and the entry's stale-quote checks (30 s) see them fresh.
    time.sleep(1.0)
    market.quote(SPOT)

    for n in range(5):
        run.send("posts", "Post", f"s-{n}", post(f"s-{n}", f"author{n}", BULLISH, market.now_us()))
    entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
    symbol = entry["symbol"]
    eventually(lambda: symbol in alpaca.market_data.subscribed("options"), timeout=30)

    # Right after a refresh: the next one is REFRESH_S away.
    seen = alpaca.count("GET", SNAPSHOTS)
    eventually(lambda: alpaca.count("GET", SNAPSHOTS) > seen, timeout=REFRESH_S + 30)
    refreshes, fell_at = alpaca.count("GET", SNAPSHOTS), time.monotonic()
    paid = float(entry["filled_avg_price"])
    alpaca.set_quote(symbol, round(paid * 0.4, 2), round(paid * 0.45, 2), 50, 50)
    exit_order = eventually(lambda: run.orders(intent="close"), timeout=REFRESH_S / 2)[0]
    took = time.monotonic() - fell_at
    assert exit_order["symbol"] == symbol and "stop" in (exit_order["reason"] or "")
    assert alpaca.count("GET", SNAPSHOTS) == refreshes, "a REST refresh came first"
    assert took < REFRESH_S / 2

    # Dropped and refused a while: alpaca-py reconnects and the held contract is streamed again.
    connections = alpaca.market_data.connections["options"]
    alpaca.market_data.drop(refuse=True)
    time.sleep(1.5)
    alpaca.market_data.allow()
    eventually(lambda: alpaca.market_data.connections["options"] > connections
               and symbol in alpaca.market_data.subscribed("options"), timeout=30)
