"""Which broker the worker trades through, and the trading rules built from settings.

Paper is the default. Live trading needs both ``TRADING_MODE=live`` and the worker's
``--live`` flag; either one alone is refused at start-up with a message saying what is
missing, so a stray setting or a stray flag can never send a live order.
"""

from __future__ import annotations

import logging
from typing import Any

from connectors.broker import Broker, ChainSource
from domain.control import ControlState
from domain.decision import TradingRules, rules_from
from streams.settings import Settings
from streams.topics import topic_name

log = logging.getLogger(__name__)


class LiveTradingRefused(RuntimeError):
    """Live trading was asked for by only one of the two switches."""


def check_live(settings: Settings, live: bool) -> bool:
    """True for live trading; raises when only one of the two switches is on."""
    mode = settings.trading.mode
    if live and mode != "live":
        raise LiveTradingRefused("--live given but TRADING_MODE is not live: refusing to trade live")
    if mode == "live" and not live:
        raise LiveTradingRefused("TRADING_MODE=live needs the --live flag too: refusing to start")
    if live and settings.trading.broker != "alpaca":
        raise LiveTradingRefused("live trading needs TRADING_BROKER=alpaca")
    return live


def make_broker(settings: Settings, live: bool = False) -> Broker:
    """The simulated broker, or Alpaca (paper unless :func:`check_live` says live)."""
    is_live = check_live(settings, live)
    trading = settings.trading
    if trading.broker == "alpaca":
        from connectors.alpaca.broker import AlpacaBroker

        log.warning("trading through Alpaca, %s account", "LIVE" if is_live else "paper")
        return AlpacaBroker.from_settings(settings, live=is_live)
    from connectors.simulated.broker import SimulatedBroker
    from connectors.simulated.journal import KafkaJournal

    kafka = settings.kafka
    journal = KafkaJournal(kafka.bootstrap_servers, topic_name(kafka.topic_prefix, "sim-broker"),
                           key="simulated", replication=kafka.replication) \
        if trading.sim_persist else None
    return SimulatedBroker(trading.slippage, trading.commission,
                           latency_us=int(trading.sim_latency_ms * 1000), journal=journal)


def make_chain_source(settings: Settings, live: bool = False) -> ChainSource | None:
    """Alpaca's market data for the chain cache when trading through Alpaca, else None
    (the simulated market publishes its own quotes)."""
    if settings.trading.broker != "alpaca":
        return None
    from connectors.alpaca.chain import AlpacaChain

    return AlpacaChain.from_settings(settings, live=live)


def trading_rules(settings: Settings) -> TradingRules:
    """Contract choice, sizing, risk limits and exits from settings."""
    return rules_from(settings)


class ControlHolder:
    """The last valid control state read from the control table, and the stored record it
    came from (:func:`agents.control.current_state` re-reads the table when it changes)."""

    def __init__(self) -> None:
        self.state = ControlState()
        self.record: dict[str, Any] | None = None
