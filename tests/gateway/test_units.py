"""Pure parts of the gateway: Retry-After parsing, jitter, redaction, the breaker, the limiters."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from aicmo.tasks.gateway._breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from aicmo.tasks.gateway._rate_limiter import SharedSemaphore, TokenBucket
from aicmo.tasks.gateway._redact import redact, register_secret
from aicmo.tasks.gateway._retry import full_jitter, parse_retry_after


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    now = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(90.0)
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    draws = [full_jitter(4, 0.1, 10.0) for _ in range(2000)]
    assert max(draws) <= 0.8
    assert min(draws) < 0.1  # full jitter reaches down to zero
    assert all(d <= 0.5 for d in (full_jitter(30, 0.1, 0.5) for _ in range(100)))


def test_redact_masks_every_registered_secret() -> None:
    register_secret("s3cr3t-value-123")
    assert redact("GET /x?appid=s3cr3t-value-123 failed") == "GET /x?appid=*** failed"


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, 10.0, clock=lambda: now[0])
    for _ in range(2):
        assert not breaker.record_failure()
    assert breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()
    now[0] = 10.5
    assert breaker.state == HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.record_failure()  # the probe failed: open again
    assert breaker.state == OPEN and breaker.trips == 2
    now[0] = 21.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow()


def test_token_bucket_paces_requests() -> None:
    bucket = TokenBucket(rate=50, burst=1)

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(26):
            await bucket.acquire()
        return time.perf_counter() - start

    assert asyncio.run(run()) >= 0.45  # 25 tokens after the first at 50/s


def test_shared_semaphore_bounds_calls_across_threads_and_loops() -> None:
    semaphore = SharedSemaphore(3)
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    async def one() -> None:
        nonlocal in_flight, peak
        await semaphore.acquire()
        try:
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            with lock:
                in_flight -= 1
        finally:
            semaphore.release()

    async def many() -> None:
        await asyncio.gather(*(one() for _ in range(20)))

    threads = [threading.Thread(target=asyncio.run, args=(many(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak == 3
    assert in_flight == 0


def test_shared_semaphore_survives_cancelled_waiters() -> None:
    semaphore = SharedSemaphore(1)

    async def run() -> None:
        await semaphore.acquire()
        waiter = asyncio.ensure_future(semaphore.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        semaphore.release()
        await asyncio.sleep(0.01)
        await asyncio.wait_for(semaphore.acquire(), 1)  # the permit was not lost

    asyncio.run(run())
