"""Waiting for an outcome instead of sleeping: ``eventually`` (blocking) and
``eventually_async`` (inside an event loop, which keeps running between checks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Call ``check`` until it returns something truthy and return that; fail with its last
    value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    if not value:
        raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
    return value


async def eventually_async(check: Callable[[], Any], timeout: float = 30.0,
                           interval: float = 0.02) -> Any:
    """:func:`eventually` for a test running in an event loop: awaits between checks, so the
    servers and tasks on that loop make progress."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        await asyncio.sleep(interval)
        value = check()
    if not value:
        raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
    return value
