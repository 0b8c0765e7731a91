"""A sliding-window rate limiter shared by every Alpaca REST call (trading and data).

Alpaca allows ``requests_per_minute`` calls per API key across its REST endpoints (200 by
default); a 429 costs more than waiting, so each call first takes a slot here. The clock
and the sleep are arguments, so tests run it on a fake clock without waiting.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable


class RateLimiter:
    """At most ``limit`` acquisitions in any ``window_s`` seconds.

    Parameters
    ----------
    limit:
        Calls allowed per window (Alpaca: 200 a minute).
    window_s:
        The window, seconds.
    clock:
        Monotonic seconds (default :func:`time.monotonic`).
    sleep:
        How to wait (default :func:`asyncio.sleep`); a fake clock's sleep advances it.
    block:
        How a worker thread waits in :meth:`wait_blocking` (default :func:`time.sleep`).

    Notes
    -----
    Safe to share between event loops in different threads: the check-and-take is under a
    thread lock and no lock is held while waiting.
    """

    def __init__(self, limit: int = 200, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 block: Callable[[float], None] = time.sleep) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._block = block
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0
        """Total time callers were held back (for metrics and tests)."""

    def try_acquire(self) -> float:
        """Take a slot now if one is free: 0.0; else the seconds until one frees up."""
        with self._lock:
            now = self._clock()
            while self._taken and self._taken[0] <= now - self.window_s:
                self._taken.popleft()
            if len(self._taken) < self.limit:
                self._taken.append(now)
                return 0.0
            return max(self._taken[0] + self.window_s - now, 1e-6)

    async def acquire(self) -> None:
        """Wait until a call is allowed, and count it."""
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return
            with self._lock:
                self.waited_s += wait
            await self._sleep(wait)

    def wait_blocking(self) -> None:
        """:meth:`acquire` for a worker thread (the SDK's blocking HTTP session calls it)."""
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return
            with self._lock:
                self.waited_s += wait
            self._block(wait)

    @property
    def in_window(self) -> int:
        """Calls counted in the current window."""
        with self._lock:
            now = self._clock()
            return sum(1 for t in self._taken if t > now - self.window_s)


_SHARED: dict[tuple[str, int], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(key_id: str, per_minute: int) -> RateLimiter:
    """The process's one limiter for an API key (Alpaca counts calls per key), so the
    broker and the chain built from the same settings share it."""
    with _SHARED_LOCK:
        limiter = _SHARED.get((key_id, per_minute))
        if limiter is None:
            limiter = _SHARED[(key_id, per_minute)] = RateLimiter(per_minute)
        return limiter
