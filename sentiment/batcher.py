"""A micro-batcher: many concurrent callers, one model call per batch, in one worker thread.

Callers ``await batcher.score(text)``. Texts are collected until ``batch_max`` are waiting or
the oldest has waited ``batch_wait_ms``, whichever comes first; the batch then runs through
``predict`` in one dedicated thread, so the event loop never blocks on the model. An
exception in ``predict`` fails that batch's callers and nothing else. ``stop()`` fails every
caller still waiting with :class:`BatcherStopped` and returns at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatcherStopped(RuntimeError):
    """The batcher was stopped before this text was scored."""


@dataclass(slots=True)
class BatcherStats:
    """Counters for metrics."""

    batches: int = 0
    texts: int = 0
    failed_batches: int = 0
    largest_batch: int = 0


@dataclass(slots=True)
class _Waiting(Generic[T]):
    text: str
    future: asyncio.Future[T]
    since: float  # loop time when the text arrived


class MicroBatcher(Generic[T]):
    """Batch concurrent ``score`` calls into few ``predict`` calls, run off the event loop.

    Parameters
    ----------
    predict:
        Scores a list of texts and returns one result per text, in order (synchronous; it
        runs in the batcher's own thread, one batch at a time).
    batch_max:
        At most this many texts per ``predict`` call.
    batch_wait_ms:
        The oldest waiting text waits at most this long for the batch to fill.
    name:
        Names the worker thread and the log lines.
    """

    def __init__(self, predict: Callable[[list[str]], Sequence[T]], batch_max: int = 16,
                 batch_wait_ms: float = 2.0, *, name: str = "finbert") -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, not {batch_max}")
        if batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must not be negative, not {batch_wait_ms}")
        self.predict = predict
        self.batch_max = batch_max
        self.wait_s = batch_wait_ms / 1000.0
        self.name = name
        self.stats = BatcherStats()
        self._waiting: deque[_Waiting[T]] = deque()
        self._in_flight: list[_Waiting[T]] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        """True between ``start`` (or the first ``score``) and ``stop``."""
        return self._task is not None and not self._stopped

    async def start(self) -> None:
        """Start the worker thread and the collecting task (``score`` does it when needed).

        A batcher first used under one event loop and then another (``asyncio.run`` twice)
        starts afresh on the new loop.
        """
        if self._stopped:
            raise BatcherStopped(f"{self.name} batcher was stopped; make a new one")
        loop = asyncio.get_running_loop()
        if self._task is not None and self._task.get_loop() is loop:
            return
        self._arrived, self._full = asyncio.Event(), asyncio.Event()
        self._waiting.clear()  # (callers of a loop that is gone)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._task = loop.create_task(self._run(), name=f"{self.name}-batcher")

    async def stop(self) -> None:
        """Stop: every caller still waiting (or in the running batch) gets :class:`BatcherStopped`.

        Returns without waiting for a ``predict`` call in progress; its result is dropped.
        """
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        error = BatcherStopped(f"{self.name} batcher stopped before this text was scored")
        for item in [*self._in_flight, *self._waiting]:
            if not item.future.done():
                item.future.set_exception(error)
        self._in_flight, self._waiting = [], deque()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> MicroBatcher[T]:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def score(self, text: str) -> T:
        """The result for one text, from the batch it joins.

        Raises
        ------
        BatcherStopped
            When the batcher is (or gets) stopped before the text is scored.
        Exception
            Whatever ``predict`` raised for this text's batch.
        """
        if self._stopped:
            raise BatcherStopped(f"{self.name} batcher is stopped")
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.get_loop() is not loop:
            await self.start()
        item = _Waiting[T](text, loop.create_future(), loop.time())
        self._waiting.append(item)
        self._arrived.set()
        if len(self._waiting) >= self.batch_max:
            self._full.set()
        return await item.future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            remaining = self._waiting[0].since + self.wait_s - loop.time()
            if len(self._waiting) < self.batch_max and remaining > 0:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), remaining)
                except TimeoutError:
                    pass
            batch = self._take()
            if batch:
                await self._predict(loop, batch)

    def _take(self) -> list[_Waiting[T]]:
        """Up to ``batch_max`` waiting texts whose callers still want an answer."""
        batch: list[_Waiting[T]] = []
        while self._waiting and len(batch) < self.batch_max:
            item = self._waiting.popleft()
            if not item.future.done():  # a caller that gave up (cancelled) is skipped
                batch.append(item)
        return batch

    async def _predict(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting[T]]) -> None:
        self._in_flight = batch
        texts = [item.text for item in batch]
        try:
            results = await loop.run_in_executor(self._executor, self.predict, texts)
            if len(results) != len(texts):
                raise RuntimeError(f"{self.name}: predict gave {len(results)} results for "
                                   f"{len(texts)} texts")
        except Exception as exc:  # the batch's callers get the error; the batcher goes on
            self._in_flight = []
            self.stats.failed_batches += 1
            log.warning("%s: batch of %d failed: %r", self.name, len(texts), exc)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self._in_flight = []  # (left in place when cancelled: stop() fails those callers)
        self.stats.batches += 1
        self.stats.texts += len(texts)
        self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
