"""Building blocks for the integration stories: a run's posts, chains and operator commands,
the consumer group's members, the account owner's pid, and a recorded morning.

The run itself (:class:`streams.commands.local_run.Run`) and the hand-made records
(:mod:`streams.samples`) live in ``streams``, where the benchmarks use them too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from stocktracker.connectors.replay.runner import run_replay
from stocktracker.connectors.simulated.market import day_items
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.synthetic import generate_day
from stocktracker.schemas.codec import SingleObjectCodec
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.samples import chain, post
from tests.waiting import eventually

BULLISH = "$SPY breaking out, loading calls 🚀"


def burst(run: Run, start_us: int, tag: str, count: int = 5) -> None:
    """``count`` bullish posts by as many authors, five seconds apart from ``start_us``."""
    for n in range(count):
        run.send("posts", "Post", f"{tag}-{n}",
                 post(f"{tag}-{n}", f"{tag}-author{n}", BULLISH, start_us + n * 5_000_000))


def quotes(run: Run, event_us: int, spot: float) -> None:
    """SPY's quote and its 0DTE chain around ``spot``, at ``event_us``."""
    for quote in chain(event_us, spot):
        run.send("quotes", "Quote", "SPY", quote)


def control(run: Run, command: str, event_us: int, **params: str) -> None:
    """An operator's control command."""
    run.send("control", "Control", "operator", {"command": command, "actor": "test-operator",
                                                "params": params, "event_time": event_us,
                                                "trace": {}})


def members(run: Run) -> list[Any]:
    """The members of the run's consumer group (none while it cannot be described)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": run.settings.kafka.bootstrap_servers})
    group = run.settings.stream.app_id
    try:
        return list(admin.describe_consumer_groups([group])[group].result(5).members)
    except Exception:
        return []


def owner_pid(run: Run, timeout: float = 60.0) -> int:
    """The pid of the worker owning the account, once there is one."""
    holder = eventually(run.owner, timeout=timeout)
    return int(holder.rsplit("-", 1)[-1])


def record_morning(bootstrap: str, prefix: str, day: date, hours: float, seed: int = 7
                   ) -> dict[str, int]:
    """Generate ``day``'s first ``hours`` of posts and quotes and produce them into the
    topics under ``prefix`` (a recording); the count per topic."""
    session = MarketCalendar().session_on(day)
    assert session is not None, day
    generated = generate_day(datetime.fromtimestamp(session.open_us / 1e6, UTC),
                             datetime.fromtimestamp(session.close_us / 1e6, UTC), seed=seed,
                             quote_every_s=15.0, strikes_each_side=6)
    end_us = session.open_us + int(hours * 3600 * 10**6)
    producer = RecordProducer(bootstrap, SingleObjectCodec(), prefix)
    return run_replay([i for i in day_items(generated) if i.event_us < end_us], producer,
                      speed=0)
