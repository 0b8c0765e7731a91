"""Faust's Kafka transport, with a consumer that never counts an ack across a rebalance.

faust-streaming 0.11 acks (marks safe to commit) a message its stream *skipped* because it
was fetched before a rebalance (its generation is not the app's, or flow control is
suspended while partitions move): "we want to ack the filtered out message, otherwise the
lag would increase". Such an ack lands in the new assignment's bookkeeping, where the
partition's committed offset was just forgotten, so the next commit moves past a message
no agent handled. The chaos bench saw it twice in one run (``bench/chaos.py --broker
alpaca``): five posts never scored, and an operator's kill switch never applied, while the
dashboard's history showed it sent. The same holds for a message whose handling was still
running when its partition was revoked (``stream_wait_empty`` is off here).

:class:`GuardedConsumer` refuses to count such an ack: a message fetched in an earlier
generation, or acked while flow is suspended, is marked done without being counted, so its
offset is not committed and the partition's new holder reads it again. Every effect
downstream is safe to apply twice (``docs/architecture.md``, "Every effect once"), which
is what at-least-once delivery asks of it.
"""

from __future__ import annotations

import logging

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers.aiokafka import Consumer, Transport
from faust.types import Message
from faust.types.tuples import ack_lock

log = logging.getLogger(__name__)

SCHEME = "kafka-guarded"
"""The broker URL scheme registered with Faust for :class:`GuardedTransport`."""


class GuardedConsumer(Consumer):
    """Faust's aiokafka consumer; an ack from before the current assignment is not counted
    (see the module docstring)."""

    def ack(self, message: Message) -> bool:
        """Count ``message`` as safe to commit, unless it belongs to an earlier assignment."""
        app = self.app
        if message.generation_id == app.consumer_generation_id \
                and app.flow_control.is_active():
            return super().ack(message)
        with ack_lock:
            if message.acked:
                return False
            message.acked = True  # done here; read again where its partition now is
        log.info("not committing %s[%d]@%d: fetched before the rebalance (generation %s, "
                 "now %s)", message.topic, message.partition, message.offset,
                 message.generation_id, app.consumer_generation_id)
        return False


class GuardedTransport(Transport):
    """Faust's aiokafka transport with :class:`GuardedConsumer`."""

    Consumer = GuardedConsumer


def broker_url(url: str) -> str:
    """The broker URL a worker uses for ``url``: ``kafka://…`` becomes the guarded
    transport's (registered with Faust on first use); others are unchanged."""
    scheme, sep, rest = url.partition("://")
    if scheme != "kafka" or not sep:
        return url
    TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:{GuardedTransport.__name__}")
    return f"{SCHEME}://{rest}"
