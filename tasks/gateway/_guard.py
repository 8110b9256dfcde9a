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
from aicmo.tasks.gateway._deadline import Deadline, attempt_budget, worth_retrying
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

    async def _wait_for_window(self, cap_s: float, deadline: Deadline) -> None:
        wait = self.paused_until - time.time()
        if wait <= 0:
            return
        if wait > min(cap_s, deadline.remaining()):
            limit = f"cap {cap_s:.0f}s" if cap_s <= deadline.remaining() else "past the lookup's deadline"
            raise ProviderError(
                self.name,
                "rate_limited",
                f"rate-limit window exhausted for {wait:.0f}s more ({limit})",
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
        tally: AttemptTally,
        deadline: Deadline,
    ) -> T:
        """One attempt: breaker, rate-limit window, limiter, the call within its deadline, bookkeeping."""
        await self._wait_for_window(settings.retry_after_cap_s, deadline)
        if deadline.spent():
            raise ProviderError(
                self.name,
                "timeout",
                f"the lookup's {deadline.budget_s:g} s deadline passed before this attempt",
            )
        if not self.breaker.allow():
            raise ProviderError(self.name, "circuit_open", "circuit breaker is open")
        tally.attempts += 1
        metrics.calls += 1
        if tally.attempts > 1:
            metrics.retries += 1
        try:
            async with self.limiter:
                budget_s, by_call = attempt_budget(deadline, settings.attempt_deadline_s)
                started = time.perf_counter()
                try:
                    try:
                        async with asyncio.timeout(budget_s) as scope:
                            result = await op()
                    except TimeoutError:
                        if not scope.expired():
                            raise
                        tally.cut_by_lookup_deadline = by_call
                        raise _deadline_error(self.name, budget_s, by_call, deadline) from None
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
        self,
        op: Callable[[], Awaitable[T]],
        settings: GatewaySettings,
        metrics: ProviderMetrics,
        *,
        deadline: Deadline | None = None,
        retry: bool = True,
        reserve_s: float = 0.0,
        tally: AttemptTally | None = None,
    ) -> tuple[T, int]:
        """Run ``op`` (one attempt at the provider) with retries; returns its result and the attempts.

        Each attempt ends by ``settings.attempt_deadline_s`` and the whole run by ``deadline``
        (default: ``settings.call_deadline_s`` from now); a retry starts only when its backoff
        leaves more than ``reserve_s`` of the deadline (time kept for the chain's later
        providers). ``retry=False`` makes one attempt only (the fail-fast policy). A ``tally``
        passed in counts the attempts even when the run is cancelled (a hedge won).

        The first attempt runs bare; only when it fails with something worth retrying does a
        tenacity controller take over (same policy, ~30 us less per call on the happy path).
        Raises ``ProviderError`` (with ``attempts`` set) when the provider gave no answer.
        """
        tally = tally or AttemptTally()
        deadline = deadline or Deadline.after(settings.call_deadline_s)
        try:
            if self.disabled_reason is not None:
                raise ProviderError(
                    self.name, "disabled", f"disabled earlier in this run ({self.disabled_reason})"
                )
            try:
                return await self._attempt(op, settings, metrics, tally, deadline), tally.attempts
            except ProviderError as exc:
                if (
                    not retry
                    or settings.max_attempts <= 1
                    or not should_retry(exc, settings.retry_after_cap_s)
                ):
                    raise
                sleep_s = backoff_s(exc, 1, settings)
                if not worth_retrying(deadline.remaining(), sleep_s, reserve_s):
                    raise
                await asyncio.sleep(sleep_s)
            async for attempt in retrying(settings, attempts_done=1, deadline=deadline, reserve_s=reserve_s):
                with attempt:
                    return await self._attempt(op, settings, metrics, tally, deadline), tally.attempts
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
            if (
                retry
                and exc is tally.last_failure
                and not tally.cut_by_lookup_deadline
                and tally.attempts < settings.max_attempts
                and should_retry(exc, settings.retry_after_cap_s)
            ):  # tries were left and the error deserved one: the deadline stopped them
                when = "for another try" if reserve_s == 0 else "for another try and the next provider"
                raise exc.with_note(
                    f"too little left of the lookup's {deadline.budget_s:g} s deadline {when}"
                ) from None
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


def _deadline_error(provider: str, budget_s: float, by_call: bool, deadline: Deadline) -> ProviderError:
    """The error of an attempt cut short: by the lookup's deadline, or by the attempt's own."""
    if by_call:
        message = f"the lookup's {deadline.budget_s:g} s deadline passed before the answer was complete"
    else:
        message = f"no complete answer within the {budget_s:g} s attempt deadline"
    return ProviderError(provider, "timeout", message)


class AttemptTally:
    """Attempts made by one ``run``, its last real failure, and whether the lookup's deadline cut it."""

    __slots__ = ("attempts", "cut_by_lookup_deadline", "last_failure")

    def __init__(self) -> None:
        self.attempts = 0
        self.last_failure: ProviderError | None = None
        self.cut_by_lookup_deadline = False


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
