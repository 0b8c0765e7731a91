"""Socket.IO: the token on connect, the snapshot, the seven events, throttling and batching.

Flask-SocketIO's test client for the handlers; a real server on loopback with the
python-socketio client for the websocket transport and the origin check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from flask import Flask
from flask_socketio import SocketIO, SocketIOTestClient
from werkzeug.serving import BaseWSGIServer, make_server

from stocktracker.streams import samples as r
from stocktracker.streams.commands.kafka_local import free_port
from stocktracker.web.app import create_app
from stocktracker.web.control import ListWriter
from stocktracker.web.events import EVENTS
from stocktracker.web.hub import Feed
from stocktracker.web.sockets import Emitter
from tests.waiting import eventually
from tests.web_auth import TOKEN, web_settings


def make(**web: Any) -> tuple[Flask, Feed]:
    settings = web_settings(**web)
    feed = Feed(settings.web)
    return create_app(settings, feed, ListWriter(), start_emitter=False), feed


def connect(app: Flask, token: str | None = TOKEN) -> SocketIOTestClient:
    sio: SocketIO = app.extensions["socketio"]
    return sio.test_client(app, auth={"token": token} if token is not None else None)


def received(client: SocketIOTestClient) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for message in client.get_received():
        out.setdefault(message["name"], []).append(message["args"][0])
    return out


def flush(app: Flask) -> None:
    emitter: Emitter = app.extensions["emitter"]
    emitter.flush()


def test_connection_needs_the_token() -> None:
    app, _ = make()
    assert not connect(app, None).is_connected()
    assert not connect(app, "wrong-token-wrong-token").is_connected()
    assert connect(app).is_connected()


def test_open_views_let_anyone_watch() -> None:
    app, _ = make(read_only_open=True)
    assert connect(app, None).is_connected()


def test_a_new_browser_gets_a_snapshot_of_every_event() -> None:
    app, feed = make()
    feed.ingest("sentiment", r.sentiment())
    flush(app)  # the chart keeps what browsers were sent
    feed.ingest("signals", r.signal())
    feed.ingest("fills", r.fill())
    feed.ingest("positions", r.position())
    feed.ingest("control", r.control("pause"))
    feed.ingest("switches", r.switches("pause", paused=True))
    feed.ingest("control", r.control("kill", at=r.T0 + 1))  # not applied yet
    got = received(connect(app))
    assert set(got) == set(EVENTS)
    assert all(batch[0]["snapshot"] for batch in got.values())
    assert got["signal_generated"][0]["items"][0]["id"] == "SPY:bullish:1"
    assert got["sentiment_update"][0]["items"][0]["ticker"] == "SPY"
    trading = got["system_status"][0]["items"][0]["trading"]
    assert trading["paused"] is True and trading["killed"] is False
    assert [c["command"] for c in trading["pending"]] == ["kill"]
    assert "aggregate" in got["latency_metrics"][0]["items"][-1]["rolling"]


def test_records_become_batched_events() -> None:
    app, feed = make()
    client = connect(app)
    client.get_received()  # the snapshot
    for n in range(20):
        feed.ingest("sentiment", r.sentiment(mean=n / 100, at=r.T0 + n))
    feed.ingest("sentiment", r.sentiment(ticker="QQQ"))
    feed.ingest("signals", r.signal())
    feed.ingest("orders", r.order(status="filled", reason=None))
    feed.ingest("fills", r.fill())
    feed.ingest("positions", r.position())
    feed.ingest("quotes", r.quote(bid=2.0, ask=2.2))
    feed.ingest("alerts", r.alert())
    feed.ingest("alerts", r.alert(state="acknowledged", actor="alice@127.0.0.1 via web"))
    assert feed.refresh_skill() is not None  # the skill's thread, every WEB_SKILL_INTERVAL_S
    flush(app)
    got = received(client)
    assert set(got) == set(EVENTS) and all(len(batches) == 1 for batches in got.values())
    [alert] = got["alert_update"][0]["items"]  # the latest state per alert
    assert alert["state"] == "firing" and alert["acknowledged_by"] == "alice@127.0.0.1 via web"
    [skill] = got["model_skill"][0]["items"]
    assert skill["posts"] == 0 and skill["models"] == {} and skill["t"] == r.T0 // 1000
    sentiment = got["sentiment_update"][0]["items"]
    assert [(s["ticker"], s["mean"]) for s in sentiment] == [("SPY", 0.19), ("QQQ", 0.4)]  # latest per ticker
    [signal] = got["signal_generated"][0]["items"]
    assert signal["outcome"]["status"] == "filled"  # the signal and its order in one item
    assert got["trade_executed"][0]["items"][0]["price"] == 1.25
    [position] = got["position_update"][0]["items"]
    assert position["mark"] == 2.1 and position["unrealized_pnl"] == 170.0
    latency = got["latency_metrics"][0]["items"][0]
    assert latency["budget_ms"] == 200.0 and "aggregate" in latency["stages"]
    flush(app)
    assert received(client) == {}  # nothing new, status not due yet


def test_a_flood_is_throttled_to_one_batch_per_interval() -> None:
    app, feed = make(max_batch=50)
    client = connect(app)
    client.get_received()
    for n in range(5000):
        feed.ingest("fills", r.fill(coid=f"st-{n}", at=r.T0 + n))
        feed.ingest("positions", r.position(qty=n % 7 + 1))
    flush(app)
    got = received(client)
    [trades] = got["trade_executed"]
    assert len(trades["items"]) == 50 and trades["dropped"] == 4950
    assert trades["items"][-1]["client_order_id"] == "st-4999"  # the newest are kept
    [positions] = got["position_update"]
    assert len(positions["items"]) == 1 and positions["items"][0]["qty"] == 4999 % 7 + 1
    metrics = feed.metrics()["dashboard"]
    assert metrics["emitted"]["trade_executed"] == 50 and metrics["dropped"]["trade_executed"] == 4950


def test_record_to_emit_latency_is_measured_from_the_trace() -> None:
    app, feed = make()
    feed.ingest("signals", r.signal())  # its trace ends now
    flush(app)
    emit = feed.metrics()["latency_ms"]["record_to_emit"]
    assert emit["n"] == 1 and 0 <= emit["p99"] < 1000


def test_status_is_sent_on_its_period_and_at_once_when_a_command_is_sent_and_applied() -> None:
    app, feed = make(status_interval_s=3600)
    client = connect(app)
    client.get_received()
    flush(app)
    assert "system_status" in received(client)  # the first one is due at once
    flush(app)
    assert received(client) == {}
    feed.ingest("control", r.control("kill"))
    flush(app)
    [sent] = received(client)["system_status"]
    trading = sent["items"][0]["trading"]
    assert trading["killed"] is None and not trading["confirmed"]  # sent, not applied
    assert trading["pending"][0]["command"] == "kill"
    feed.ingest("switches", r.switches("kill", killed=True))
    flush(app)
    [applied] = received(client)["system_status"]
    trading = applied["items"][0]["trading"]
    assert trading["killed"] is True and trading["confirmed"] and trading["pending"] == []
    assert trading["owner"]["actor"] == "owner worker-1"
    assert trading["last_command"]["status"] == "applied"


def test_a_quiet_stream_goes_out_at_once_and_a_busy_one_waits_for_the_interval() -> None:
    settings = web_settings(emit_interval_ms=1000, status_interval_s=3600)
    feed = Feed(settings.web)
    app = create_app(settings, feed, ListWriter(), start_emitter=True)
    client = connect(app)
    ids: list[str] = []

    def arrived(sid: str) -> bool:
        ids.extend(i["id"] for b in received(client).get("signal_generated", []) for i in b["items"])
        return sid in ids

    try:
        started = time.monotonic()
        feed.ingest("signals", r.signal(sid="first"))
        eventually(lambda: arrived("first"), timeout=5, interval=0.005)
        first = time.monotonic() - started
        started = time.monotonic()
        feed.ingest("signals", r.signal(sid="second"))
        eventually(lambda: arrived("second"), timeout=5, interval=0.005)
        second = time.monotonic() - started
    finally:
        app.extensions["emitter"].stop()
    assert first < 0.5 and second > 0.7, (first, second)


@pytest.fixture
def server() -> Iterator[tuple[str, Feed]]:
    settings = web_settings(emit_interval_ms=50, cors_origins="http://ops.example.com")
    feed = Feed(settings.web)
    app = create_app(settings, feed, ListWriter(), start_emitter=True)
    port = free_port()
    httpd: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", feed
    finally:
        app.extensions["emitter"].stop()
        httpd.shutdown()
        thread.join(5)


def test_a_real_client_over_websocket_gets_events_as_records_arrive(server: tuple[str, Feed]) -> None:
    url, feed = server
    client = socketio.Client(reconnection=False)
    signals: list[dict[str, Any]] = []
    client.on("signal_generated", lambda batch: signals.extend(batch["items"]))
    client.connect(url, auth={"token": TOKEN}, transports=["websocket"], wait_timeout=5)
    try:
        assert client.transport() == "websocket"
        started = time.monotonic()
        feed.ingest("signals", r.signal(sid="SPY:bullish:live"))
        eventually(lambda: any(s["id"] == "SPY:bullish:live" for s in signals), timeout=5, interval=0.01)
        assert time.monotonic() - started < 1.0  # within a few 50 ms emit intervals
    finally:
        client.disconnect()


@pytest.mark.parametrize(("token", "origin"), [
    (None, None), ("wrong-token-wrong-token", None), (TOKEN, "http://evil.example.com")])
def test_a_real_client_is_refused_without_token_or_from_a_foreign_origin(
        server: tuple[str, Feed], token: str | None, origin: str | None) -> None:
    url, _ = server
    client = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        # polling: the websocket client library adds an Origin header of its own
        client.connect(url, auth={"token": token} if token else None, transports=["polling"],
                       headers={"Origin": origin} if origin else {}, wait_timeout=5)
    assert not client.connected


def test_a_configured_origin_may_connect(server: tuple[str, Feed]) -> None:
    url, _ = server
    client = socketio.Client(reconnection=False)
    client.connect(url, auth={"token": TOKEN}, transports=["polling"],
                   headers={"Origin": "http://ops.example.com"}, wait_timeout=5)
    try:
        assert client.connected
    finally:
        client.disconnect()
