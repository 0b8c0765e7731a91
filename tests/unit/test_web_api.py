"""The REST API through Flask's test client: auth, views, control commands, CORS, secrets."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from stocktracker.connectors.alpaca.config import AlpacaSettings
from stocktracker.streams import samples as r
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.trace import now_us
from stocktracker.web.app import create_app
from stocktracker.web.control import ListWriter, NotDelivered
from stocktracker.web.hub import Feed
from tests.web_auth import TOKEN, web_settings

AUTH = {"Authorization": f"Bearer {TOKEN}"}
VIEWS = ("/api/status", "/api/positions", "/api/signals", "/api/orders", "/api/metrics", "/api/skill",
         "/api/volatility")


class Loopback(ListWriter):
    """Writes commands 'to the topic' and reads them back into the feed, as Kafka would."""

    def __init__(self, feed: Feed) -> None:
        super().__init__()
        self.feed = feed

    def send(self, record: Mapping[str, Any]) -> None:
        super().send(record)
        self.feed.ingest("control", dict(record))


class Unacknowledged(ListWriter):
    def send(self, record: Mapping[str, Any]) -> None:
        raise NotDelivered("the broker did not acknowledge the command")


def make(settings: Settings | None = None, writer: type[ListWriter] | None = Loopback
         ) -> tuple[Flask, Feed, ListWriter | None]:
    s = settings or web_settings()
    feed = Feed(s.web)
    sink = None if writer is None else writer(feed) if writer is Loopback else writer()
    return create_app(s, feed, sink, start_emitter=False), feed, sink


@pytest.fixture
def app() -> tuple[Flask, Feed, ListWriter | None]:
    return make()


@pytest.fixture
def client(app: tuple[Flask, Feed, ListWriter | None]) -> FlaskClient:
    return app[0].test_client()


@pytest.mark.parametrize("path", VIEWS)
def test_views_need_the_token(client: FlaskClient, path: str) -> None:
    missing = client.get(path)
    assert missing.status_code == 401 and "token" in missing.json["error"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(path, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get(path, headers=AUTH).status_code == 200


def test_views_may_be_opened_but_control_still_needs_the_token() -> None:
    app, _, _ = make(web_settings(read_only_open=True))
    client = app.test_client()
    assert all(client.get(p).status_code == 200 for p in VIEWS)
    refused = client.post("/api/control", json={"command": "pause"})
    assert refused.status_code == 401
    assert client.post("/api/control", json={"command": "pause"}, headers=AUTH).status_code == 202


def test_without_a_token_control_is_off_and_views_must_be_opened() -> None:
    with pytest.raises(ValueError, match="WEB_TOKEN"):
        make(web_settings(token=None))
    with pytest.raises(ValueError, match="16 characters"):
        make(web_settings(token=SecretStr("short")))
    app, _, _ = make(web_settings(token=None, read_only_open=True))
    off = app.test_client().post("/api/control", json={"command": "pause"})
    assert off.status_code == 403 and "control is off" in off.json["error"]


def test_status_positions_signals_orders_and_metrics_show_the_pipeline(
        app: tuple[Flask, Feed, ListWriter | None]) -> None:
    flask_app, feed, _ = app
    client = flask_app.test_client()
    for n in range(3):
        feed.ingest("signals", r.signal(sid=f"SPY:bullish:{n}", at=r.T0 + n))
    feed.ingest("orders", r.order(coid="st-2", sid="SPY:bullish:2", status="filled", reason=None))
    feed.ingest("fills", r.fill(coid="st-2"))
    feed.ingest("positions", r.position())
    feed.ingest("metrics", r.metric("llm_cost_usd", 0.25, stage="score", model="claude"))
    signals = client.get("/api/signals?limit=2", headers=AUTH).json
    assert [s["id"] for s in signals] == ["SPY:bullish:2", "SPY:bullish:1"]
    assert signals[0]["reason"] and signals[0]["outcome"]["status"] == "filled"
    assert client.get("/api/orders", headers=AUTH).json[0]["client_order_id"] == "st-2"
    positions = client.get("/api/positions", headers=AUTH).json
    assert positions["open"] == 1 and positions["positions"][0]["qty"] == 2
    assert positions["positions"][0]["stale"] is False
    assert positions["positions"][0]["stranded"] is False
    feed.ingest("positions", r.position(stranded=True))
    [row] = client.get("/api/positions", headers=AUTH).json["positions"]
    assert row["stranded"] is True and row["stale"] is False
    status = client.get("/api/status", headers=AUTH).json
    assert status["trading"] == {**status["trading"], "confirmed": False, "paused": None,
                                 "entries_allowed": None, "owner": None}  # no owner has said
    assert {c["name"] for c in status["components"]} >= {"kafka", "worker", "dashboard feed"}
    assert status["topics"]["signals"]["records"] == 3 and "worker" in status and "broker" in status
    metrics = client.get("/api/metrics", headers=AUTH).json
    assert metrics["llm"]["cost_usd"] == 0.25 and metrics["budget_ms"] == 200.0
    assert metrics["latency_ms"]["signal"]["n"] == 3 and "records_per_s" in metrics["throughput"]


def test_each_worker_is_listed_with_its_readiness(
        app: tuple[Flask, Feed, ListWriter | None]) -> None:
    """Workers say whether they are ready on ``metrics``; the status lists each one."""
    flask_app, feed, _ = app
    now = now_us()
    feed.ingest("metrics", r.metric("worker_ready", 1.0, stage="worker", worker="w-1"), now)
    feed.ingest("metrics", r.metric("worker_owner", 1.0, stage="worker", worker="w-1"), now)
    feed.ingest("metrics", r.metric("worker_ready", 0.0, stage="worker", worker="w-2"), now)
    feed.ingest("metrics", r.metric("worker_ready", 1.0, stage="worker", worker="w-3"),
                now - 300_000_000)  # five minutes silent
    status = flask_app.test_client().get("/api/status", headers=AUTH).json
    rows = {c["name"]: c for c in status["components"] if c["name"].startswith("worker ")}
    assert {name: c["state"] for name, c in rows.items()} == {
        "worker w-1": "up", "worker w-2": "not ready", "worker w-3": "stale"}
    assert rows["worker w-1"]["detail"].startswith("owns the account")
    assert rows["worker w-2"]["detail"].startswith("scoring and standby")


@pytest.mark.parametrize("limit", ["0", "abc", "100000"])
def test_a_bad_limit_is_a_400(client: FlaskClient, limit: str) -> None:
    answer = client.get(f"/api/signals?limit={limit}", headers=AUTH)
    assert answer.status_code == 400 and "limit" in answer.json["error"]


def test_a_command_is_written_with_who_when_and_what(app: tuple[Flask, Feed, ListWriter | None]) -> None:
    flask_app, feed, writer = app
    assert writer is not None
    feed.ingest("quotes", r.quote(at=r.T0 + 7))  # the pipeline's clock
    answer = flask_app.test_client().post(
        "/api/control", headers=AUTH,
        json={"command": "Pause", "operator": "alice", "reason": "FOMC in 5 min"})
    assert answer.status_code == 202 and answer.json["accepted"]
    [record] = writer.records
    assert record["command"] == "pause" and record["actor"] == "alice@127.0.0.1 via web"
    assert record["params"] == {"reason": "FOMC in 5 min"} and record["event_time"] == r.T0 + 7
    assert record["trace"]["web_out"] >= record["trace"]["web_in"] > 0
    r.CODEC.encode("Control", record)  # a valid Control record
    sent = flask_app.test_client().get("/api/status", headers=AUTH).json["trading"]
    assert sent["paused"] is None and not sent["confirmed"]  # sent is not applied
    assert sent["last_command"]["actor"] == "alice@127.0.0.1 via web"
    assert sent["last_command"]["status"] == "pending" and sent["pending"] == [sent["last_command"]]
    feed.ingest("switches", r.switches("pause", by=record["actor"], at=record["event_time"], paused=True))
    applied = flask_app.test_client().get("/api/status", headers=AUTH).json["trading"]
    assert applied["paused"] is True and applied["entries_allowed"] is False and applied["confirmed"]
    assert applied["owner"]["actor"] == "owner worker-1" and applied["owner"]["by"] == record["actor"]
    assert applied["owner"]["t"] == (r.T0 + 7) // 1000 and applied["owner"]["at"] > 0
    assert applied["last_command"]["status"] == "applied" and applied["pending"] == []


def test_limits_are_sent_as_strings_and_checked_first(client: FlaskClient,
                                                      app: tuple[Flask, Feed, ListWriter | None]) -> None:
    ok = client.post("/api/control", headers=AUTH,
                     json={"command": "set_limits", "params": {"max_daily_loss": 500, "reset": True}})
    assert ok.status_code == 202
    assert ok.json["record"]["params"] == {"max_daily_loss": "500", "reset": "true"}
    assert client.get("/api/status", headers=AUTH).json["trading"]["limits"] is None
    feed = app[1]
    feed.ingest("switches", r.switches("set_limits", at=ok.json["record"]["event_time"],
                                       by=ok.json["record"]["actor"], max_daily_loss=500.0))
    status = client.get("/api/status", headers=AUTH).json["trading"]
    assert status["limits"] == {"max_daily_loss": 500.0}
    assert status["recent_commands"][0]["command"] == "set_limits"
    assert status["recent_commands"][0]["status"] == "applied"


@pytest.mark.parametrize(("body", "message"), [
    ("not json", "JSON"),
    ([1, 2], "JSON object"),
    ({}, "command is required"),
    ({"command": 5}, "command is required"),
    ({"command": "explode"}, "unknown command"),
    ({"command": "pause", "extra": 1}, "unknown field(s) extra"),
    ({"command": "pause", "params": [1]}, "params must be an object"),
    ({"command": "set_limits", "params": {"max_daily_loss": {"a": 1}}}, "params.max_daily_loss"),
    ({"command": "set_limits", "params": {"max_daily_loss": "-5"}}, "max_daily_loss must be > 0"),
    ({"command": "set_limits", "params": {"max_daily_loss": "NaN"}}, "must be a finite number"),
    ({"command": "set_limits", "params": {"max_daily_loss": float("nan")}}, "finite number"),
    ({"command": "set_limits", "params": {"max_quote_age_s": "Infinity"}}, "finite number"),
    ({"command": "set_limits", "params": {"max_total_premium": "-inf"}}, "finite number"),
    ({"command": "set_limits", "params": {"max_daily_loss": "1e12"}}, "at most 10,000,000"),
    ({"command": "set_limits", "params": {"max_contracts_per_order": "2.5"}}, "an integer"),
    ({"command": "set_limits", "params": {"bogus": "1"}}, "unknown limit 'bogus'"),
    ({"command": "set_limits"}, "needs at least one limit"),
    ({"command": "pause", "params": {"flatten": "true"}}, "pause takes no params"),
    ({"command": "kill"}, "kill needs \"confirm\": true"),
    ({"command": "flatten", "confirm": "yes"}, "flatten needs \"confirm\": true"),
    ({"command": "close", "params": {"symbol": "SPY261124C00590000"}},
     "close needs \"confirm\": true"),
    ({"command": "close", "confirm": True, "params": {"symbol": "SPY"}},
     "close needs symbol=<OCC option symbol>, not 'SPY'"),
    ({"command": "pause", "operator": "<script>"}, "operator must be"),
    ({"command": "pause", "reason": "x" * 201}, "reason must be"),
])
def test_bad_commands_get_a_clear_400_and_nothing_is_written(
        app: tuple[Flask, Feed, ListWriter | None], body: object, message: str) -> None:
    flask_app, _, writer = app
    client = flask_app.test_client()
    if isinstance(body, str):
        answer = client.post("/api/control", data=body, headers=AUTH)
    else:
        answer = client.post("/api/control", json=body, headers=AUTH)
    assert answer.status_code == 400 and message in answer.json["error"]
    assert writer is not None and writer.records == []


def test_control_needs_the_right_token(app: tuple[Flask, Feed, ListWriter | None]) -> None:
    flask_app, _, writer = app
    client = flask_app.test_client()
    assert client.post("/api/control", json={"command": "pause"}).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert client.post("/api/control", json={"command": "pause"}, headers=wrong).status_code == 401
    assert writer is not None and writer.records == []
    kill = client.post("/api/control", json={"command": "kill", "confirm": True,
                                             "params": {"flatten": True}}, headers=AUTH)
    assert kill.status_code == 202 and writer.records[0]["params"] == {"flatten": "true"}


def test_an_unacknowledged_command_is_a_503() -> None:
    app, _, _ = make(writer=Unacknowledged)
    answer = app.test_client().post("/api/control", json={"command": "pause"}, headers=AUTH)
    assert answer.status_code == 503 and "acknowledge" in answer.json["error"]


def test_cors_is_limited_to_the_configured_origins() -> None:
    app, _, writer = make(web_settings(cors_origins="https://ops.example.com, https://backup.example.com/"))
    client = app.test_client()
    good = client.get("/api/status", headers={**AUTH, "Origin": "https://ops.example.com"})
    assert good.headers["Access-Control-Allow-Origin"] == "https://ops.example.com"
    bad = client.get("/api/status", headers={**AUTH, "Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in bad.headers
    own = client.get("/api/status", headers={**AUTH, "Origin": "http://localhost"})
    assert own.headers["Access-Control-Allow-Origin"] == "http://localhost"  # the page's own origin
    preflight = client.options("/api/control", headers={
        "Origin": "https://backup.example.com", "Access-Control-Request-Method": "POST"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://backup.example.com"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    forged = client.post("/api/control", json={"command": "pause"},
                         headers={**AUTH, "Origin": "https://evil.example.com"})
    assert forged.status_code == 403 and writer is not None and writer.records == []


def test_a_wildcard_origin_is_refused_in_settings() -> None:
    with pytest.raises(ValueError, match="name the origins"):
        web_settings(cors_origins="*")


def test_openapi_describes_every_api_route(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").json  # open: it holds no data
    assert doc["openapi"].startswith("3.")
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # Flask's <path:x> is OpenAPI's {x}
              for rule in client.application.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert routes == set(doc["paths"])
    body = doc["paths"]["/api/control"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]["command"]["enum"]) == {"pause", "resume", "kill", "flatten", "close",
                                                             "set_limits"}


def test_no_secret_reaches_the_page_or_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"ALPACA_API_KEY": "alpaca-key-SECRET-1", "ALPACA_SECRET_KEY": "alpaca-SECRET-2",
               "SENTIMENT_GROQ_API_KEY": "gsk-SECRET-3", "INGEST_X_BEARER_TOKEN": "x-SECRET-4"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    app, feed, _ = make(Settings(web=web_settings().web))
    assert AlpacaSettings().api_key is not None  # the secrets are in these settings
    feed.ingest("signals", r.signal())
    client = app.test_client()
    pages = [client.get("/"), client.get("/api/openapi.json"),
             *(client.get(p, headers=AUTH) for p in VIEWS),
             client.post("/api/control", json={"command": "pause"}, headers=AUTH)]
    assert pages[0].status_code == 200 and b"KILL SWITCH" in pages[0].data
    for page in pages:
        text = page.get_data(as_text=True)
        for secret in [TOKEN, *secrets.values()]:
            assert secret not in text, f"{secret} leaked by {page.request.path}"


def test_the_page_forbids_scripts_from_elsewhere(client: FlaskClient) -> None:
    page = client.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html  # vendored, no CDN
    for path in ("/static/vendor/socket.io/socket.io.min.js", "/static/vendor/uplot/uPlot.iife.min.js",
                 "/static/dashboard.js", "/static/vendor/socket.io/LICENSE", "/static/vendor/uplot/LICENSE"):
        assert client.get(path).status_code == 200, path


def test_unknown_api_paths_answer_json(client: FlaskClient) -> None:
    missing = client.get("/api/nothing", headers=AUTH)
    assert missing.status_code == 404 and "error" in missing.json
    wrong_method = client.get("/api/control", headers=AUTH)
    assert wrong_method.status_code == 405 and "error" in wrong_method.json


def test_the_web_command_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Any) -> None:
    from click.testing import CliRunner

    from stocktracker.streams.commands.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEB_TOKEN", raising=False)
    monkeypatch.delenv("WEB_READ_ONLY_OPEN", raising=False)
    result = CliRunner().invoke(main, ["web"])
    assert result.exit_code == 1 and "WEB_TOKEN" in result.output
    monkeypatch.setenv("WEB_TOKEN", "short")
    result = CliRunner().invoke(main, ["web"])
    assert result.exit_code == 1 and "16 characters" in result.output and "short" not in result.output
