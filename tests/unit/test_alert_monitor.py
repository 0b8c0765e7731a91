"""The alert monitor over the dashboard's feed: changes are written and told once, a restart
fires nothing twice, webhooks are retried as HTTP says, operators acknowledge by the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from stocktracker.connectors.simulated.webhook_server import GENERIC_PATH, SLACK_PATH, WebhookServer
from stocktracker.connectors.webhook import GENERIC, Webhook, WebhookNotifier, notifier_from
from stocktracker.domain.alerts import FIRING, RESOLVED, WARNING, Alert
from stocktracker.streams import samples as r
from stocktracker.streams.core.settings import AlertSettings, Settings, WebSettings
from stocktracker.web.alerting import AlertMonitor
from stocktracker.web.app import create_app
from stocktracker.web.control import ListWriter, NotDelivered
from stocktracker.web.hub import Feed
from tests.web_auth import TOKEN, web_settings

S = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.us = r.T0

    def __call__(self) -> int:
        return self.us


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    with WebhookServer().running() as server:
        yield server


def settings(**alert: Any) -> Settings:
    alert.setdefault("warmup_s", 0)
    return Settings(web=WebSettings(), alert=AlertSettings(_env_file=None, **alert))


def monitor(feed: Feed, hooks: WebhookServer | None, clock: Clock, writer: ListWriter,
            **alert: Any) -> AlertMonitor:
    notifier = None if hooks is None else notifier_from(
        hooks.url + GENERIC_PATH, hooks.url + SLACK_PATH, "test", 2.0, 1)
    return AlertMonitor(feed, settings(**alert), writer, notifier, clock=clock)


def read_back(feed: Feed, writer: ListWriter, clock: Clock) -> None:
    """What the Kafka feed would do: the written changes come back from the topic."""
    for record in writer.records:
        feed.ingest("alerts", dict(record), clock())
    writer.records.clear()


def source(feed: Feed, connected: float, clock: Clock) -> None:
    feed.ingest("metrics", r.metric("source_connected", connected, stage="ingest", source="x"),
                clock())


def test_a_source_down_and_up_is_written_and_told_once_each(hooks: WebhookServer) -> None:
    clock, feed, writer = Clock(), Feed(WebSettings()), ListWriter()
    m = monitor(feed, hooks, clock, writer, rules="source_down", source_down_s=20)
    source(feed, 0.0, clock)
    assert m.step() == []  # held: not yet 20 s
    clock.us += 21 * S
    [fired] = m.step()
    assert (fired.id, fired.state, fired.first_seen) == ("source_down:x", FIRING, r.T0)
    assert [rec["state"] for rec in writer.records] == [FIRING]
    read_back(feed, writer, clock)
    clock.us += 5 * S
    assert m.step() == [] and m.deliver() == [fired]
    assert [b["id"] for b in hooks.bodies()] == ["source_down:x"]
    assert hooks.bodies(SLACK_PATH)[0]["text"].startswith("[WARNING] source_down x")
    assert feed.alerts()["firing"][0]["id"] == "source_down:x"
    source(feed, 1.0, clock)
    [resolved] = m.step()
    assert resolved.state == RESOLVED and resolved.resolved == clock.us
    read_back(feed, writer, clock)
    assert m.step() == [] and m.deliver() == [resolved]
    assert [(b["id"], b["state"]) for b in hooks.bodies()] == [
        ("source_down:x", FIRING), ("source_down:x", RESOLVED)]
    assert feed.alerts()["firing"] == []


def test_a_restarted_monitor_fires_nothing_twice_and_still_resolves(hooks: WebhookServer) -> None:
    clock, feed, writer = Clock(), Feed(WebSettings()), ListWriter()
    first = monitor(feed, None, clock, writer, rules="daily_loss")
    feed.ingest("metrics", r.metric("account_max_daily_loss", 1000.0, stage="owner"), clock())
    feed.ingest("metrics", r.metric("account_day_pnl", -850.0, stage="owner"), clock())
    assert [a.subject for a in first.step()] == ["50%", "80%"]
    read_back(feed, writer, clock)
    clock.us += 10 * S
    again = monitor(feed, hooks, clock, writer, rules="daily_loss")  # a new process
    assert again.step() == [] and writer.records == []
    feed.ingest("metrics", r.metric("account_day_pnl", -100.0, stage="owner"), clock())
    assert {(a.subject, a.state) for a in again.step()} == {("50%", RESOLVED), ("80%", RESOLVED)}
    again.deliver()
    assert sorted(b["subject"] for b in hooks.bodies()) == ["50%", "80%"]


def test_no_rule_runs_in_the_warm_up() -> None:
    clock, feed, writer = Clock(), Feed(WebSettings()), ListWriter()
    m = monitor(feed, None, clock, writer, rules="kill_switch", warmup_s=15)
    feed.ingest("switches", r.switches("kill", killed=True), clock())
    assert m.step() == []
    clock.us += 15 * S
    assert [a.id for a in m.step()] == ["kill_switch:account"]


def test_a_fill_without_its_order_fires_after_the_grace_and_resolves_when_it_comes() -> None:
    clock, feed, writer = Clock(), Feed(WebSettings()), ListWriter()
    m = monitor(feed, None, clock, writer, rules="fill_without_order", fill_grace_s=30)
    feed.ingest("orders", r.order(coid="st-known", status="filled"), clock())
    feed.ingest("fills", r.fill(coid="st-known"), clock())
    feed.ingest("fills", r.fill(coid="by-hand"), clock())
    feed.ingest("fills", r.fill(coid="reconcile:SPY261124C00590000:1:2"), clock())
    assert m.step() == []
    clock.us += 31 * S
    assert [a.id for a in m.step()] == ["fill_without_order:by-hand"]
    feed.ingest("orders", r.order(coid="by-hand", status="filled"), clock())
    assert [(a.id, a.state) for a in m.step()] == [("fill_without_order:by-hand", RESOLVED)]


def test_broker_refusals_and_a_burst_of_orders_are_counted_from_the_orders() -> None:
    clock, feed, writer = Clock(), Feed(WebSettings()), ListWriter()
    m = monitor(feed, None, clock, writer, rules="broker_errors,order_rate", broker_errors=2,
                orders_floor=3)
    feed.ingest("orders", r.order(coid="risk-1", status="rejected", broker_order_id=""),
                clock())  # refused by our own risk checks: never reached the broker
    for n in range(4):
        feed.ingest("orders", r.order(coid=f"o{n}", status="new"), clock())
    feed.ingest("orders", r.order(coid="o0", status="rejected"), clock())  # the broker's (its id)
    feed.ingest("orders", r.order(coid="o0", status="rejected"), clock())  # read twice
    feed.ingest("orders", r.order(coid="o1", status="error"), clock())
    found = {a.id: a.value for a in m.step()}
    assert found == {"broker_errors:simulated": 2.0, "order_rate:orders": 4.0}


def test_webhooks_are_retried_on_5xx_and_429_but_not_on_a_refused_body(
        hooks: WebhookServer) -> None:
    waits: list[float] = []
    notifier = WebhookNotifier([Webhook(GENERIC, hooks.url + GENERIC_PATH)], "test",
                               retries=2, sleep=waits.append)
    alert = Alert("kill_switch:account", "kill_switch", "account", WARNING, FIRING, "m", r.T0)
    hooks.fail(GENERIC_PATH, 503)
    hooks.fail(GENERIC_PATH, 429, retry_after="2")
    assert notifier.send(alert) and waits == [0.5, 2.0] and len(hooks.bodies()) == 1
    hooks.fail(GENERIC_PATH, 400)
    assert not notifier.send(alert) and notifier.failed == 1 and len(waits) == 2
    wrong = WebhookNotifier([Webhook("slack", hooks.url + "/slack/x")], "t", retries=0)
    hooks.fail("/slack/x", 500, count=5)
    assert not wrong.send(alert) and hooks.refused[-1] == ("/slack/x", 500)
    assert "127.0.0.1" not in repr(notifier.hooks)  # a webhook URL is a credential
    notifier.close()
    wrong.close()


def test_an_operator_acknowledges_a_firing_alert_through_the_api() -> None:
    feed, writer = Feed(WebSettings()), ListWriter()
    app = create_app(web_settings(), feed, ListWriter(), start_emitter=False, alert_writer=writer)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    feed.ingest("alerts", r.alert())
    feed.ingest("alerts", r.alert("kill_switch", "account", state="resolved"))
    assert client.post("/api/alerts/source_down:x/ack", json={}).status_code == 401
    answer = client.post("/api/alerts/source_down:x/ack", json={"operator": "alice"}, headers=auth)
    assert answer.status_code == 202
    [ack] = writer.records
    assert ack["state"] == "acknowledged" and ack["actor"].startswith("alice@")
    assert ack["id"] == "source_down:x" and ack["first_seen"] == r.T0
    feed.ingest("alerts", dict(ack))
    listed = client.get("/api/alerts", headers=auth).json
    assert listed["unacknowledged"] == 0 and listed["firing"][0]["acknowledged_by"] == ack["actor"]
    assert [c["state"] for c in listed["changes"]][:1] == ["acknowledged"]
    assert client.post("/api/alerts/nope:x/ack", headers=auth).status_code == 404
    assert client.post("/api/alerts/kill_switch:account/ack", headers=auth).status_code == 409
    bad = client.post("/api/alerts/source_down:x/ack", json={"operator": "a b"}, headers=auth)
    assert bad.status_code == 400 and len(writer.records) == 1


class RefusingWriter(ListWriter):
    """A writer whose broker does not answer (as when Kafka itself is down)."""

    def send(self, record: Any) -> None:
        raise NotDelivered("the broker did not acknowledge the Alert record")


def test_kafka_unreachable_is_told_to_the_webhooks_though_the_topic_cannot_take_it(
        hooks: WebhookServer) -> None:
    clock, feed = Clock(), Feed(WebSettings())
    m = monitor(feed, hooks, clock, RefusingWriter(), rules="kafka_unreachable")
    feed.health["broker"] = {"connected": False, "error": "all brokers down"}
    [fired] = m.step()
    assert fired.id == "kafka_unreachable:kafka" and m.unwritten == 1
    assert m.deliver() == [fired] and [b["id"] for b in hooks.bodies()] == [fired.id]


def test_llm_failures_are_summed_over_the_workers_within_the_window() -> None:
    clock, feed, writer = Clock(), Feed(WebSettings()), ListWriter()
    m = monitor(feed, None, clock, writer, rules="llm_errors", llm_min_calls=5)

    def report(worker: str, calls: float, timeouts: float) -> None:
        for name, value in (("llm_calls", calls), ("llm_timeouts", timeouts)):
            feed.ingest("metrics", r.metric(name, value, stage="score", model="claude",
                                            worker=worker), clock())

    report("w1", 100, 0)
    report("w2", 100, 0)
    assert m.step() == []  # the window's start: what came before it does not count
    clock.us += 60 * S
    report("w1", 103, 2)  # 3 calls, 2 failed on w1; 3 calls, 2 failed on w2: 4 of 6
    report("w2", 103, 2)
    [fired] = m.step()
    assert fired.id == "llm_errors:claude" and fired.value == round(4 / 6, 3)
