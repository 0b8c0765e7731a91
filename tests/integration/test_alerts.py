"""Alerts end to end on the real broker: the monitor reads the topics as the dashboard does,
writes its changes to ``alerts`` and a local webhook receives exactly the expected ones, when
an ingest source goes down and comes back, and when the day's loss crosses 50, 80 and 100 %
of the daily-loss limit of a real worker's account."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from stocktracker.connectors.ingest import IngestService, processor_from_settings
from stocktracker.connectors.simulated.webhook_server import GENERIC_PATH, SLACK_PATH, WebhookServer
from stocktracker.connectors.simulated.x_server import FakeXServer
from stocktracker.connectors.webhook import notifier_from
from stocktracker.connectors.x.config import XSettings
from stocktracker.connectors.x.source import XSource
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.admin import delete_topics, ensure_topics, topics_with_prefix
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import AlertSettings, KafkaSettings, Settings, StreamSettings
from stocktracker.streams.samples import at
from stocktracker.web.alerting import AlertMonitor
from stocktracker.web.control import KafkaControlWriter
from stocktracker.web.feed import KafkaFeed
from tests.integration.helpers import burst, control, quotes
from tests.waiting import eventually, eventually_async

pytestmark = pytest.mark.integration
TOKEN = "x-bearer-for-alert-test"


def changes(hooks: WebhookServer) -> list[tuple[str, str]]:
    """What the generic webhook was told, in order: (alert id, state)."""
    return [(body["id"], body["state"]) for body in hooks.bodies(GENERIC_PATH)]


@contextmanager
def watching(settings: Settings, hooks: WebhookServer) -> Iterator[AlertMonitor]:
    """The dashboard's Kafka feed with the alert monitor over it, telling ``hooks``."""
    codec = SingleObjectCodec()
    feed = KafkaFeed(settings, codec)
    kafka = settings.kafka
    writer = KafkaControlWriter(kafka.bootstrap_servers, codec, kafka.topic_prefix,
                                topic="alerts", record_name="Alert", key=None)
    notifier = notifier_from(hooks.url + GENERIC_PATH, hooks.url + SLACK_PATH, "it", 2.0, 1)
    monitor = AlertMonitor(feed, settings, writer, notifier)
    feed.start()
    monitor.start()
    try:
        yield monitor
    finally:
        monitor.stop()
        feed.stop()


def alert_settings(**alert: Any) -> AlertSettings:
    return AlertSettings(_env_file=None, warmup_s=0, eval_interval_s=0.2, **alert)


async def test_a_source_that_stops_and_comes_back_is_told_once_each_way(
        kafka_bootstrap: str) -> None:
    prefix = f"alerts{uuid.uuid4().hex[:8]}."
    ensure_topics(kafka_bootstrap, prefix, 1, 1)
    settings = Settings(kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix),
                        stream=StreamSettings(app_id=f"alerts-{uuid.uuid4().hex[:6]}"),
                        alert=alert_settings(rules="source_down", source_down_s=2.0))
    x_settings = XSettings(x_bearer_token=TOKEN, _env_file=None, reconnect_max_s=0.5,
                           health_interval_s=0.3)
    stop = asyncio.Event()
    try:
        async with FakeXServer(bearer_token=TOKEN, heartbeat_s=0.1) as x:
            x_settings = x_settings.model_copy(update={"x_base_url": x.url})
            service = IngestService(x_settings, [XSource(x_settings, ("SPY",), backoff_base_s=0.05)],
                                    RecordProducer(kafka_bootstrap, SingleObjectCodec(), prefix),
                                    processor_from_settings(x_settings, ("SPY",)))
            task = asyncio.create_task(service.run(stop))
            await eventually_async(lambda: x.connected, timeout=30)
            # the monitor starts once the source is up (a slow start is not the story here)
            with WebhookServer().running() as hooks, watching(settings, hooks) as monitor:
                feed = monitor.feed
                await eventually_async(lambda: feed.view.metrics.get(
                    ("source_connected", (("source", "x"), ("stage", "ingest"))),
                    {}).get("value") == 1.0, timeout=30)
                x.stream_faults.extend(["503"] * 10_000)  # every reconnect refused: down
                await x.drop()
                # told to both webhooks, one after the other
                await eventually_async(lambda: changes(hooks) and hooks.bodies(SLACK_PATH),
                                       timeout=30)
                assert changes(hooks) == [("source_down:x", "firing")]
                [slack] = hooks.bodies(SLACK_PATH)
                assert slack["text"].startswith("[WARNING] source_down x")
                x.stream_faults.clear()  # the API answers again: the source reconnects
                await eventually_async(lambda: len(changes(hooks)) == 2, timeout=30)
                await asyncio.sleep(1.0)  # nothing more comes
                assert changes(hooks) == [("source_down:x", "firing"),
                                          ("source_down:x", "resolved")]
                assert [a["state"] for a in feed.alerts()["changes"]] == ["resolved", "firing"]
            stop.set()
            await asyncio.wait_for(task, 30)
    finally:
        stop.set()
        delete_topics(kafka_bootstrap, topics_with_prefix(kafka_bootstrap, prefix))


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings],
        tmp_path: Path) -> Iterator[Run]:
    settings = run_settings(kafka_bootstrap, alert=alert_settings(rules="daily_loss"))
    pipeline_run = Run(settings, tmp_path)
    # a stop far away: the loss grows with the market, unsold
    pipeline_run.worker_env.update({"SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO",
                                    "TRADING_STOP_LOSS_PCT": "0.99",
                                    "TRADING_TRAILING_STOP_PCT": "0.99"})
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


def test_the_days_loss_is_told_at_50_80_and_100_percent_of_the_limit(run: Run) -> None:
    with WebhookServer().running() as hooks, watching(run.settings, hooks):
        run.start_worker()
        quotes(run, at(15, 0), 590.0)
        burst(run, at(15, 0, 5), "up")
        entry = eventually(lambda: run.orders(intent="open", status="filled"), timeout=60)[0]
        premium = entry["filled_avg_price"] * entry["filled_qty"] * 100
        limit = round(premium * 0.6)  # the whole premium lost is 167 % of the limit
        control(run, "set_limits", at(15, 0, 40), max_daily_loss=str(limit))
        eventually(lambda: [r for r in run.records("metrics")
                            if r["name"] == "account_max_daily_loss" and r["value"] == limit],
                   timeout=60)
        spot = 590.0
        for step in range(1, 40):  # the call loses value step by step, 10 s apart
            spot -= 0.5
            quotes(run, at(15, 1) + step * 10_000_000, spot)
            if ("daily_loss:100%", "firing") in changes(hooks):
                break
            eventually(lambda s=step: [r for r in run.records("metrics")
                                       if r["name"] == "account_day_pnl"
                                       and r["event_time"] >= at(15, 1) + s * 10_000_000],
                       timeout=30)
        eventually(lambda: ("daily_loss:100%", "firing") in changes(hooks), timeout=30)
        assert changes(hooks) == [("daily_loss:50%", "firing"), ("daily_loss:80%", "firing"),
                                  ("daily_loss:100%", "firing")]
        slack = eventually(lambda: hooks.bodies(SLACK_PATH)[2:], timeout=30)
        assert "[CRITICAL] daily_loss 100%" in slack[-1]["text"]
        assert not run.orders(intent="close")  # nothing was sold: the loss is the open one
