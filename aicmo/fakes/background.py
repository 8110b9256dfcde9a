"""An asyncio event loop on a daemon thread: where the local fake servers run beside a test or the demo.

loop = BackgroundLoop("local-smtp")
server = loop.run(start_serving())     # runs the coroutine on the loop, returns its result
loop.run(stop_serving())
loop.close()                           # stops the loop, joins the thread, closes the loop
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """One event loop running forever on its own daemon thread until ``close``."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 15.0) -> T:
        """Run ``coro`` on the loop and wait (at most ``timeout_s``) for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the loop, wait for the thread, close the loop (a second call does nothing)."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)
        self.loop.close()
