"""The Faust app with every topic, table and agent, built from settings.

Agents are registered by the modules under ``agents/``; each is a short loop that decodes,
calls a pure domain function, encodes and sends. Anything that fails goes to
``deadletter`` with the reason and the original bytes, and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import faust

from stocktracker.agents.host import ControlHolder
from stocktracker.agents.owner import Ownership
from stocktracker.connectors.broker import Broker, BrokerError, ChainSource, QuoteStream
from stocktracker.domain.decision import rules_from
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.order_record import OrderRecord
from stocktracker.domain.orders import Account
from stocktracker.schemas.codec import Codec, make_codec
from stocktracker.sentiment.ensemble import Ensemble, ensemble_from_settings
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.topics import Topics
from stocktracker.streams.core.trace import now_us
from stocktracker.streams.transport import broker_url as guarded
from stocktracker.streams.venues import make_broker, make_chain_source, make_quote_stream
from stocktracker.tables.definitions import Tables

log = logging.getLogger(__name__)


class Pipeline:
    """A configured ``faust.App`` and what its agents share."""

    def __init__(
        self,
        settings: Settings,
        *,
        codec: Codec | None = None,
        calendar: MarketCalendar | None = None,
        broker_url: str | None = None,
        ensemble: Ensemble | None = None,
        broker: Broker | None = None,
        chain_source: ChainSource | None = None,
        quote_stream: QuoteStream | None = None,
        live: bool = False,
    ) -> None:
        self.settings = settings
        kafka, stream = settings.kafka, settings.stream
        # one id per process: the group's description then tells which worker holds what
        self.worker_id = f"{stream.app_id}-{socket.gethostname()}-{os.getpid()}"
        self.app = faust.App(
            stream.app_id,
            broker=guarded(broker_url or f"kafka://{kafka.bootstrap_servers}"),
            store=stream.store,
            datadir=str(stream.data_dir),
            web_port=stream.web_port,
            web_enabled=False,
            topic_partitions=kafka.partitions,
            topic_replication_factor=kafka.replication,
            producer_linger_ms=0,
            producer_acks=-1,
            stream_wait_empty=False,
            consumer_auto_offset_reset="earliest",
            table_cleanup_interval=30.0,
            broker_commit_interval=stream.commit_interval_s,
            broker_session_timeout=stream.session_timeout_s,
            # a rebalance (a dead owner's session expired) is learnt at the next heartbeat
            broker_heartbeat_interval=min(3.0, stream.session_timeout_s / 10),
            broker_client_id=self.worker_id,
        )
        self.codec = codec or make_codec(stream.schema_registry_url)
        self.calendar = calendar or MarketCalendar(settings.risk.exchange)
        self.ensemble = ensemble or ensemble_from_settings(settings.sentiment)
        self.topics = Topics.create(self.app, kafka.topic_prefix, kafka.partitions,
                                    kafka.replication)
        self.tables = Tables.create(self.app, settings)
        self.agents: dict[str, Any] = {}
        self.open_positions: Any = None  # set by agents.book
        self.open_entries: Any = None  # set by agents.orders
        self.chain_index: Any = None  # set by agents.market
        self.quote_lookup: Any = None  # set by agents.market: the quote table as a Touch
        self._live = live
        self._own_broker = broker is None  # made here: a fresh one for each term as owner
        self.broker: Broker = broker or make_broker(settings, live=live)
        self.ownership = Ownership(self.app, self.topics.signals.get_topic_name())
        # Market data for the chain cache (Alpaca's); None: quotes come from the topic only.
        self.chain_source = chain_source or make_chain_source(settings, live=live)
        # Streamed quotes of the contracts that cannot wait for the refresh (agents.live_quotes).
        self.quote_stream = quote_stream or make_quote_stream(settings, live=live)
        self.reconciled = asyncio.Event()  # set once the broker's state is in the tables
        self.order_meta: dict[str, OrderRecord] = {}  # orders sent by this process
        self.account = Account(equity=0.0, buying_power=0.0, cash=0.0)  # refreshed by a timer
        self.trading_rules = rules_from(settings)
        self.control = ControlHolder()
        from stocktracker.agents import register_all
        from stocktracker.streams import ops

        register_all(self)
        ops.register(self)  # /metrics, /live, /ready on STREAM_WEB_HOST:STREAM_WEB_PORT

    def add_stage(self, topic: Any, stage: str, record_name: str, handler: Any) -> bool:
        """Stages run as Faust agents (:func:`agents.base.stage_agent` registers them)."""
        return False

    async def renew_broker(self) -> None:
        """A fresh broker client for a new term as the account's owner (the simulated
        broker reloads its account from Kafka: the previous owner may have traded)."""
        if not self._own_broker:
            return
        await self.broker.close()
        self.broker = make_broker(self.settings, live=self._live)
        feed = self.broker.market_feed()
        if feed is None:
            return
        if self.quote_lookup is not None:
            feed.use_quotes(self.quote_lookup)
        try:
            await feed.load()  # off the event loop; reconciliation reads it anyway
        except BrokerError as exc:
            log.warning("the %s broker's account was not read yet: %s", self.broker.name, exc)

    async def tables_ready(self, timeout_s: float = 15.0) -> bool:
        """Wait (at most ``timeout_s``) until the tables hold what their changelogs say.

        Faust's recovery-completed event is not reliable across a worker's first rebalances
        (it can stay unset), so this is bounded; reconciliation does not depend on it for
        correctness (it states absolute quantities, applied by the book agent after
        recovery), only to see positions the broker no longer holds.
        """
        recovery = self.app.tables.recovery  # type: ignore[attr-defined]
        try:
            await asyncio.wait_for(recovery.completed.wait(), timeout_s)
        except TimeoutError:
            log.warning("table recovery not confirmed after %.0f s; reconciling anyway", timeout_s)
            return False
        return True

    async def send(self, topic: faust.TopicT, record_name: str, key: str,
                   record: dict[str, Any]) -> None:
        """Encode ``record`` and send it keyed by ``key``, stamped with its event time."""
        value = self.codec.encode(record_name, record, topic.get_topic_name())
        await topic.send(key=key.encode(), value=value, timestamp=record["event_time"] / 1e6)

    async def dead_letter(self, event: faust.EventT, stage: str, reason: str) -> None:
        """Send the event's original bytes to ``deadletter`` with why it failed."""
        message = event.message
        payload = event.value if isinstance(event.value, bytes) else repr(event.value).encode()
        key = event.key if isinstance(event.key, bytes) else None
        log.warning("dead-lettered %s[%s]@%s at %s: %s", message.topic, message.partition,
                    message.offset, stage, reason)
        record = {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "stage": stage,
            "reason": reason[:2000],
            "payload": payload,
            "key": key,
            "event_time": int(message.timestamp * 1e6) if message.timestamp else now_us(),
            "trace": {f"{stage}_in": now_us()},
        }
        await self.send(self.topics.deadletter, "DeadLetter", stage, record)
