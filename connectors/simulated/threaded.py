"""Run a local server (an async context manager) on its own event loop in a daemon thread,
for synchronous callers: tests, benchmarks, a worker subprocess pointed at it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import TypeVar

S = TypeVar("S", bound=AbstractAsyncContextManager[object])


@contextmanager
def in_thread(server: S, name: str, start_timeout_s: float = 10.0) -> Iterator[S]:
    """Enter ``server`` on a fresh loop in a thread; yield it; exit it and join the thread.

    Raises
    ------
    RuntimeError
        When the server has not started within ``start_timeout_s``.
    """
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def main() -> None:
        nonlocal stop
        stop = loop.create_future()
        async with server:
            started.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True,
                              name=name)
    thread.start()
    if not started.wait(start_timeout_s):
        raise RuntimeError(f"the local {name} did not start")
    try:
        yield server
    finally:
        def release() -> None:
            if stop is not None and not stop.done():
                stop.set_result(None)

        loop.call_soon_threadsafe(release)
        thread.join(10)
        loop.close()
