"""A second event loop in its own thread for the hosted LLMs' HTTP work.

The SDKs spend real CPU per answer (Claude's stream is parsed event by event). On the
worker's loop that work would sit in front of the ensemble's deadline timers and the
Kafka consumer; on its own loop it only competes for the GIL. Coroutines submitted here
come back as asyncio futures of the caller's loop; cancelling one cancels the call.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


# The interpreter hands the GIL over every 5 ms by default; a deadline timer on the main
# loop would wait up to that long behind this thread's parsing. 1 ms keeps it near.
SWITCH_INTERVAL_S = 0.001


class BackgroundLoop:
    """An event loop running in a daemon thread until :meth:`stop`.

    Starting one lowers the interpreter's GIL switch interval to :data:`SWITCH_INTERVAL_S`
    (process-wide; never raises it).
    """

    def __init__(self, name: str = "llm-io") -> None:
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run ``coro`` on the background loop; a future of the calling loop."""
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the background loop."""
        return await self.submit(coro)

    def stop(self) -> None:
        """Stop the loop and join the thread (pending calls are cancelled)."""
        if not self.loop.is_running():
            return

        def cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.call_soon(self.loop.stop)

        self.loop.call_soon_threadsafe(cancel_all)
        self._thread.join(10)
        self.loop.close()
