"""The resilience wrapped around every call to one provider: breaker, rate limit, retries, auth kill.

One ``ProviderGuard`` exists per (provider, base URL, credential) in a process, so its breaker,
rate limit and 'disabled after 401/403' state are shared by every chain, batch and task that
talks to that provider with that credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aicmo.settings import GatewaySettings, ProviderLimit
from aicmo.tasks.gateway._breaker import CircuitBreaker
from aicmo.tasks.gateway._errors import UNHEALTHY, ProviderError
from aicmo.tasks.gateway._metrics import ProviderMetrics
from aicmo.tasks.gateway._rate_limiter import RateLimiter
from aicmo.tasks.gateway._retry import backoff_s, retrying, should_retry

log = logging.getLogger("aicmo.gateway")
T = TypeVar("T")


class ProviderGuard:
    """Breaker, limiter, rate-limit window and disabled flag of one provider credential."""

    def __init__(self, name: str, limit: ProviderLimit, breaker: CircuitBreaker) -> None:
        self.name = name
        self.limit = limit
        self.limiter = RateLimiter(limit.rps, limit.concurrency)
        self.breaker = breaker
        self.disabled_reason: str | None = None
        self.paused_until = 0.0  # wall-clock epoch seconds; set from rate-limit headers
        self._lock = threading.Lock()

    def pause_until(self, epoch_s: float) -> None:
        """Hold every call until ``epoch_s`` (the provider said its window is exhausted)."""
        with self._lock:
            self.paused_until = max(self.paused_until, epoch_s)

    def disable(self, reason: str) -> None:
        """Disable the provider for the rest of the run; says so once."""
        with self._lock:
            if self.disabled_reason is not None:
                return
            self.disabled_reason = reason
        log.warning("provider %s disabled for the rest of the run: %s", self.name, reason)

    async def _wait_for_window(self, cap_s: float) -> None:
        wait = self.paused_until - time.time()
        if wait <= 0:
            return
        if wait > cap_s:
            raise ProviderError(
                self.name,
                "rate_limited",
                f"rate-limit window exhausted for {wait:.0f}s more (cap {cap_s:.0f}s)",
                retry_after=wait,
            )
        await asyncio.sleep(wait)

    def _record_failure(self, exc: ProviderError, metrics: ProviderMetrics) -> None:
        metrics.failures[exc.kind] += 1
        if exc.kind == "auth":
            self.disable(exc.detail)
        if exc.kind in UNHEALTHY:
            if self.breaker.record_failure():
                metrics.breaker_trips += 1
                log.warning("provider %s: circuit breaker opened after repeated failures", self.name)
        else:
            self.breaker.release_probe()

    async def _attempt(
        self,
        op: Callable[[], Awaitable[T]],
        settings: GatewaySettings,
        metrics: ProviderMetrics,
        tally: _Tally,
    ) -> T:
        """One attempt: breaker, rate-limit window, limiter, the call, and its bookkeeping."""
        await self._wait_for_window(settings.retry_after_cap_s)
        if not self.breaker.allow():
            raise ProviderError(self.name, "circuit_open", "circuit breaker is open")
        tally.attempts += 1
        metrics.calls += 1
        if tally.attempts > 1:
            metrics.retries += 1
        try:
            async with self.limiter:
                started = time.perf_counter()
                try:
                    result = await op()
                except ProviderError as exc:
                    metrics.latencies_s.append(time.perf_counter() - started)
                    self._record_failure(exc, metrics)
                    tally.last_failure = exc
                    raise
                except Exception as exc:
                    metrics.latencies_s.append(time.perf_counter() - started)
                    # A body of the wrong shape trips the adapter's parsing: the provider's fault. Any
                    # other exception is an adapter bug: reported per item, the chain fails over.
                    shape = isinstance(exc, KeyError | TypeError | ValueError | IndexError | AttributeError)
                    error = ProviderError(
                        self.name,
                        "malformed" if shape else "internal",
                        f"{'unexpected response shape' if shape else 'adapter error'} ({type(exc).__name__}: {exc})",
                    )
                    self._record_failure(error, metrics)
                    tally.last_failure = error
                    raise error from None
                metrics.latencies_s.append(time.perf_counter() - started)
        except ProviderError:
            raise
        except BaseException:  # cancelled while waiting or mid-call: no verdict, let the next call probe
            self.breaker.release_probe()
            raise
        self.breaker.record_success()
        return result

    async def run(
        self, op: Callable[[], Awaitable[T]], settings: GatewaySettings, metrics: ProviderMetrics
    ) -> tuple[T, int]:
        """Run ``op`` (one attempt at the provider) with retries; returns its result and the attempts.

        The first attempt runs bare; only when it fails with something worth retrying does a
        tenacity controller take over (same policy, ~30 us less per call on the happy path).
        Raises ``ProviderError`` (with ``attempts`` set) when the provider gave no answer.
        """
        tally = _Tally()
        try:
            if self.disabled_reason is not None:
                raise ProviderError(
                    self.name, "disabled", f"disabled earlier in this run ({self.disabled_reason})"
                )
            try:
                return await self._attempt(op, settings, metrics, tally), tally.attempts
            except ProviderError as exc:
                if settings.max_attempts <= 1 or not should_retry(exc, settings.retry_after_cap_s):
                    raise
                await asyncio.sleep(backoff_s(exc, 1, settings))
            async for attempt in retrying(settings, attempts_done=1):
                with attempt:
                    return await self._attempt(op, settings, metrics, tally), tally.attempts
        except ProviderError as exc:
            if exc.kind == "circuit_open" and tally.last_failure is not None:
                # This call's own failures opened the breaker: report what actually went wrong.
                tally.last_failure.attempts = tally.attempts
                raise tally.last_failure from None
            if exc.kind in ("circuit_open", "disabled") or (
                exc.kind == "rate_limited" and tally.attempts == 0
            ):
                metrics.failures[exc.kind] += 1
            exc.attempts = tally.attempts
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


class _Tally:
    """Attempts made by one ``run`` and its last real failure."""

    __slots__ = ("attempts", "last_failure")

    def __init__(self) -> None:
        self.attempts = 0
        self.last_failure: ProviderError | None = None


_GUARDS: dict[tuple[str, str, str], ProviderGuard] = {}
_GUARDS_LOCK = threading.Lock()


def fingerprint(secret: str | None) -> str:
    """A short, non-reversible tag of a credential (keys the guard, never printed with the secret)."""
    if not secret:
        return "-"
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def guard_for(
    name: str, base_url: str, secret: str | None, limit: ProviderLimit, settings: GatewaySettings
) -> ProviderGuard:
    """The process-wide guard of a provider at ``base_url`` with ``secret``."""
    key = (name, base_url, fingerprint(secret))
    with _GUARDS_LOCK:
        guard = _GUARDS.get(key)
        if guard is None:
            breaker = CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_reset_s)
            guard = _GUARDS[key] = ProviderGuard(name, limit, breaker)
        return guard


def reset_guards() -> None:
    """Forget every guard (a new run: breakers closed, disabled providers enabled again)."""
    with _GUARDS_LOCK:
        _GUARDS.clear()
