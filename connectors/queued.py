"""What the live sources share: a reader task filling a bounded queue, backoff, secret masking."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence

from connectors.base import Malformed, RawPost, SourceHealth


def backoff_delay(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with jitter: between half and all of ``min(cap, base * 2^n)``."""
    ceiling = min(cap_s, base_s * 2 ** min(attempt, 30))
    return ceiling / 2 + random.random() * ceiling / 2


class SecretMask(logging.Filter):
    """Replaces secrets in log records with ``***`` (SDKs log request headers at DEBUG)."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


class QueuedSource:
    """Base of a source whose reader task (:meth:`_run`) puts items into a bounded queue.

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
        self.health.connected = False
