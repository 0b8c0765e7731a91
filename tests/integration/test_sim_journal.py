"""The simulated broker's account on a real Kafka broker: it outlives the process."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable

import pytest

from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.connectors.simulated.journal import KafkaJournal
from stocktracker.domain.orders import OrderRequest
from stocktracker.streams.core.settings import Settings, TradingSettings
from stocktracker.streams.core.topics import topic_name
from stocktracker.streams.venues import make_broker

pytestmark = pytest.mark.integration

SYM = "SPY261124C00590000"


def buy(coid: str, qty: int, limit: float) -> OrderRequest:
    return OrderRequest(coid, SYM, "buy", qty, "limit", limit, "open")


def simulated(settings: Settings) -> SimulatedBroker:
    broker = make_broker(settings)
    assert isinstance(broker, SimulatedBroker)
    return broker


def test_kafka_journal_round_trip_last_state_wins(kafka_bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource

    topic = f"sim-journal-{uuid.uuid4().hex[:8]}"
    journal = KafkaJournal(kafka_bootstrap, topic, "acct")
    assert journal.load() is None  # creates the topic, empty
    journal.save({"cash": 1.0, "orders": ["a"]})
    journal.save({"cash": 2.0, "orders": ["a", "b"]})
    assert KafkaJournal(kafka_bootstrap, topic, "acct").load() == {"cash": 2.0, "orders": ["a", "b"]}
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 1
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(10)
    assert config["cleanup.policy"].value == "compact"


def test_two_keys_on_one_topic_stay_apart(kafka_bootstrap: str) -> None:
    topic = f"sim-journal-{uuid.uuid4().hex[:8]}"
    a, b = KafkaJournal(kafka_bootstrap, topic, "a"), KafkaJournal(kafka_bootstrap, topic, "b")
    a.save({"n": 1})
    b.save({"n": 10})
    a.save({"n": 2})
    assert KafkaJournal(kafka_bootstrap, topic, "a").load() == {"n": 2}
    assert KafkaJournal(kafka_bootstrap, topic, "b").load() == {"n": 10}
    assert KafkaJournal(kafka_bootstrap, topic, "c").load() is None


async def test_broker_rebuilt_from_kafka_equals_the_old_one(
        kafka_bootstrap: str, run_settings: Callable[..., Settings]) -> None:
    settings = run_settings(bootstrap=kafka_bootstrap)
    old = simulated(settings)
    old.advance(5_000)
    old.on_quote(SYM, 1.00, 1.05, 10, 3, 5_000)
    await old.submit(buy("o1", 5, 1.10))  # 3 of 5 fill, 2 rest
    await old.submit(buy("o2", 1, 0.50))  # rests
    await old.cancel("o2")
    await old.submit(buy("o3", 1, 0.60))  # rests
    new = simulated(settings)  # a new process would build exactly this
    assert new.cash == pytest.approx(old.cash) and new.cash < 100_000
    assert await new.positions() == await old.positions()
    assert await new.open_orders() == await old.open_orders()
    assert [o.client_order_id for o in await new.open_orders()] == ["o1", "o3"]
    assert await new.order("o2") == await old.order("o2")
    assert await new.executions(0) == await old.executions(0)
    assert await new.clock_us() == 5_000
    filled = new.on_quote(SYM, 1.00, 1.05, 10, 10, 6_000)
    assert [(u.client_order_id, u.execution_id, u.filled_qty) for u in filled] == [("o1", "sim-1.2", 5)]
    assert (await new.submit(buy("o4", 1, 1.10))).broker_order_id == "sim-4"
    unpersisted = simulated(run_settings(bootstrap=kafka_bootstrap,
                                         trading=TradingSettings(sim_persist=False)))
    assert await unpersisted.executions(0) == [] and unpersisted.cash == 100_000


KILLED_WORKER = textwrap.dedent("""
    import asyncio, sys, time
    from stocktracker.domain.orders import OrderRequest
    from stocktracker.streams.venues import make_broker
    from stocktracker.streams.core.settings import KafkaSettings, Settings

    async def main():
        broker = make_broker(Settings(kafka=KafkaSettings(bootstrap_servers=sys.argv[1],
                                                          topic_prefix=sys.argv[2])))
        broker.on_quote("SPY261124C00590000", 1.00, 1.05, 50, 50, 1_000)
        update = await broker.submit(OrderRequest("k1", "SPY261124C00590000", "buy", 2,
                                                  "limit", 1.10, "open"))
        print(update.event, update.execution_id, flush=True)
        time.sleep(600)

    asyncio.run(main())
""")


async def test_account_survives_kill_9(kafka_bootstrap: str,
                                       run_settings: Callable[..., Settings]) -> None:
    settings = run_settings(bootstrap=kafka_bootstrap)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, kafka_bootstrap,
                             settings.kafka.topic_prefix], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["fill", "sim-1.1"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    after = simulated(settings)
    assert [(p.symbol, p.qty) for p in await after.positions()] == [(SYM, 2)]
    assert after.cash == pytest.approx(100_000 - 210 - 1.30)
    assert [x.execution_id for x in await after.executions(0)] == ["sim-1.1"]
    journal = KafkaJournal(kafka_bootstrap, topic_name(settings.kafka.topic_prefix, "sim-broker"),
                           "simulated")
    assert journal.load() is not None
