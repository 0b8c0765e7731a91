"""The simulated venue: a broker that fills against the quotes on the topics, its account
kept in Kafka (topic ``sim-broker``) unless ``TRADING_SIM_PERSIST`` is off."""

from __future__ import annotations

from stocktracker.connectors.broker import Broker
from stocktracker.connectors.venue import Venue
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.topics import topic_name


def make_broker(settings: Settings, live: bool) -> Broker:
    """The simulated broker of ``TRADING_*`` (it has no live account)."""
    from stocktracker.connectors.simulated.broker import SimulatedBroker
    from stocktracker.connectors.simulated.journal import KafkaJournal

    kafka, trading = settings.kafka, settings.trading
    journal = KafkaJournal(kafka.bootstrap_servers, topic_name(kafka.topic_prefix, "sim-broker"),
                           key="simulated", replication=kafka.replication) \
        if trading.sim_persist else None
    return SimulatedBroker(trading.slippage, trading.commission,
                           latency_us=trading.sim_latency_us(backtest=False), journal=journal)


VENUE = Venue("simulated", broker=make_broker)
