"""What the live sources share: a reader task filling a bounded queue, health counting,
backoff, secret masking."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence

from stocktracker.connectors.base import Malformed, RawPost, SourceHealth


def backoff_delay(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with jitter: between half and all of ``min(cap, base * 2^n)``."""
    ceiling = min(cap_s, base_s * 2 ** min(attempt, 30))
    return ceiling / 2 + random.random() * ceiling / 2


class SecretMask(logging.Filter):
    """Replaces secrets in log records with ``***`` (SDKs log request headers at DEBUG)."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            record.msg, record.args = self.mask(message), ()
        return True


class QueuedSource:
    """Base of a source whose reader task (:meth:`_run`) puts items into a bounded queue.

    The reader reports what happens through the ``_count_*`` / ``_mark_*`` methods and
    hands items over with :meth:`_deliver`; they keep ``health`` (secrets masked).

    Parameters
    ----------
    buffer_size:
        Items held between the reader and ``items()``; a full queue holds the reader back.
    secrets:
        Masked in the records of ``loggers`` while the source runs.
    loggers:
        The SDK's logger names.
    """

    name = "source"

    def __init__(self, buffer_size: int, secrets: Sequence[str], loggers: Sequence[str]) -> None:
        self.health = SourceHealth()
        self._queue: asyncio.Queue[RawPost | Malformed | None] = asyncio.Queue(buffer_size)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._masking = SecretMask(*secrets)
        self._loggers = tuple(loggers)
        for name in self._loggers:
            logging.getLogger(name).addFilter(self._masking)

    async def _run(self) -> None:
        """Read from the service until cancelled (reconnecting with backoff)."""
        raise NotImplementedError

    def _keeps(self, post: RawPost) -> bool:
        """Whether a post passes the source's own filters (all do unless overridden)."""
        return True

    # ---- health --------------------------------------------------------------------------
    async def _deliver(self, item: RawPost | Malformed) -> None:
        """Count an item and queue it: a malformed payload, or a post :meth:`_keeps` keeps
        (its receipt is the last post's time); a post it refuses is only counted."""
        if isinstance(item, Malformed):
            self.health.malformed += 1
        elif not self._keeps(item):
            self.health.filtered += 1
            return
        else:
            self.health.posts += 1
            self.health.last_post_us = item.received_us
        await self._queue.put(item)

    def _mark_connected(self) -> None:
        """The service is answering."""
        self.health.connected = True

    def _mark_disconnected(self) -> None:
        """The connection is gone (no error to count: a stop, a restart)."""
        self.health.connected = False

    def _count_reconnect(self) -> None:
        self.health.reconnects += 1

    def _count_rate_limit(self) -> None:
        self.health.rate_limited += 1

    def _count_error(self, reason: str) -> None:
        """An error the connection survives; ``reason`` becomes ``last_error``, masked."""
        self.health.errors += 1
        self.health.last_error = self._masking.mask(reason)

    def _count_lost(self, reason: str) -> None:
        """An error that cost the connection."""
        self._mark_disconnected()
        self._count_error(reason)

    async def items(self) -> AsyncIterator[RawPost | Malformed]:
        """What arrives, until :meth:`stop`; the reader starts with the first call."""
        if self._task is None and not self._stopped:
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-source")
        while not (self._stopped and self._queue.empty()):
            item = await self._queue.get()
            if item is not None:
                yield item

    async def stop(self) -> None:
        """Stop reading; ``items()`` ends once what was received is consumed."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._queue.empty():
            self._queue.put_nowait(None)  # wakes a waiting items()
        for name in self._loggers:
            logging.getLogger(name).removeFilter(self._masking)
        self._mark_disconnected()
