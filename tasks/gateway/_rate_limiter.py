"""A client-side rate limit per provider: requests per second (token bucket) and concurrency.

Both primitives are loop-agnostic and thread-safe, so one limiter is shared by every task of a
process, whichever thread or event loop it runs on (Prefect runs tasks on worker threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from types import TracebackType


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``burst``; a caller reserves a token and sleeps."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; returns how long to wait before using it (0 when one was free)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    async def acquire(self) -> None:
        """Wait for a token."""
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


class SharedSemaphore:
    """A counting semaphore usable from any event loop in any thread (FIFO hand-over)."""

    def __init__(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"concurrency must be at least 1, not {value}")
        self._value = value
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    async def acquire(self) -> None:
        """Wait for a permit."""
        with self._lock:
            if self._value > 0 and not self._waiters:
                self._value -= 1
                return
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.cancelled():
                # If already handed over, _grant sees the cancelled future and passes the permit on.
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove((loop, fut))
            else:
                self.release()  # the permit arrived together with the cancellation
            raise

    def _grant(self, fut: asyncio.Future[None]) -> None:
        if fut.done():
            self.release()
        else:
            fut.set_result(None)

    def release(self) -> None:
        """Give a permit back (to the longest waiter, if any)."""
        with self._lock:
            while self._waiters:
                loop, fut = self._waiters.popleft()
                if loop.is_closed():
                    continue
                try:
                    running = asyncio.get_running_loop()
                except RuntimeError:
                    running = None
                if running is loop:
                    loop.call_soon(self._grant, fut)
                else:
                    loop.call_soon_threadsafe(self._grant, fut)
                return
            self._value += 1


class RateLimiter:
    """Requests-per-second and in-flight limits of one provider; ``async with limiter:`` around a call."""

    def __init__(self, rps: float | None, concurrency: int | None) -> None:
        self.bucket = TokenBucket(rps) if rps else None
        self.semaphore = SharedSemaphore(concurrency) if concurrency else None

    async def __aenter__(self) -> RateLimiter:
        if self.semaphore is not None:
            await self.semaphore.acquire()
        if self.bucket is not None:
            try:
                await self.bucket.acquire()
            except BaseException:
                if self.semaphore is not None:
                    self.semaphore.release()
                raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.semaphore is not None:
            self.semaphore.release()
