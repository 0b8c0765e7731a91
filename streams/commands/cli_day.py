"""``stocktracker replay-day``: a generated trading day, posts and option quotes, into Kafka.

The same day as ``stocktracker demo`` replays (same generator and arguments), produced into
the configured topics (``KAFKA_*``) for workers that are already running: the docker-compose
deployment's demo feed. Without quotes the execute agent has no chain and refuses every
order, which is why ``stocktracker replay`` (posts from files) is not enough for a demo.
"""

from __future__ import annotations

import json
import signal
import threading
from datetime import date, datetime
from types import FrameType
from typing import TYPE_CHECKING

import click

from stocktracker.streams.core.settings import Settings

if TYPE_CHECKING:
    from stocktracker.domain.market_day import MarketDay


@click.command("replay-day")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same day.")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Session to generate (default: the last one before today).")
@click.option("--speed", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="60 = sixty times real time, 1 = real time, 0 = as fast as possible.")
def replay_day(seed: int, day: datetime | None, speed: float) -> None:
    """Replay a generated trading day (posts and option quotes) into the topics.

    SIGTERM or SIGINT stops the replay and flushes what was sent; the counts are printed.
    """
    from stocktracker.connectors.replay.runner import run_replay
    from stocktracker.connectors.simulated.market import day_items
    from stocktracker.schemas.codec import make_codec
    from stocktracker.streams.commands.admin import ensure_topics
    from stocktracker.streams.commands.cli import _settings
    from stocktracker.streams.core.producer import RecordProducer

    settings = _settings()
    items = day_items(generated_day(settings, seed, day.date() if day is not None else None))
    k = settings.kafka
    ensure_topics(k.bootstrap_servers, k.topic_prefix, k.partitions, k.replication)
    producer = RecordProducer(k.bootstrap_servers, make_codec(settings.stream.schema_registry_url),
                              k.topic_prefix)
    stop = threading.Event()
    _stop_on_signals(stop)
    click.echo(f"replaying {len(items)} posts and quotes at speed {speed:g}", err=True)
    counts = run_replay(items, producer, speed, stop)
    click.echo(json.dumps(counts))


def generated_day(settings: Settings, seed: int, day: date | None) -> MarketDay:
    """The session ``day`` (default: the last one before today) generated as the demo does."""
    from stocktracker.domain.market_hours import MarketCalendar
    from stocktracker.streams.commands.demo import demo_day, demo_session

    session = demo_session(MarketCalendar(settings.risk.exchange), day)
    if session is None:
        raise click.BadParameter(f"{day} is not a trading session on {settings.risk.exchange}",
                                 param_hint="--day")
    return demo_day(session, seed)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handle)
