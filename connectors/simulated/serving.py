"""What the local servers share: an aiohttp application on a loopback port.

A server (:class:`LocalServer`) is entered with ``async with`` inside a running loop, run
on its own loop in a daemon thread for synchronous callers (:func:`in_thread`: tests,
benchmarks, a worker subprocess pointed at it), or served until the process is killed
(:func:`run_until_killed`: the modules' command lines).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Self, TypeVar

from aiohttp import web

HOST = "127.0.0.1"
S = TypeVar("S", bound=AbstractAsyncContextManager[object])


class LocalServer:
    """Base of the local stand-ins: serves :meth:`_app` on ``HOST`` while entered.

    ``port`` 0 asks for any free port; once entered, ``port`` is the one bound. Subclasses
    with connections of their own to end (streams, websockets) close them in their
    ``__aexit__`` before calling this one.
    """

    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The server's base URL (what a client's base URL override points at)."""
        return f"http://{HOST}:{self.port}"

    def _app(self) -> web.Application:
        """The application to serve, routes added (called once per start, in the loop)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, HOST, self.port).start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


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


def run_until_killed(server: S, announce: Callable[[S], Iterable[str]]) -> None:
    """Serve on a new loop until the process is killed; once started, print the lines of
    ``announce(server)`` (its URLs, for whoever started the process)."""

    async def run() -> None:
        async with server:
            for line in announce(server):
                print(line, flush=True)
            await asyncio.Event().wait()

    asyncio.run(run())
