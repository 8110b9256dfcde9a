"""Retry policy: exponential backoff with full jitter, and Retry-After on 429 up to a cap.

Built on tenacity. What to retry is decided from the ``ProviderError`` kind: timeouts,
connection errors (resets mid-body included), 5xx and 429; nothing else. A 429 whose
Retry-After is past the cap is not retried at all: the chain fails over instead of sleeping.
Nor is anything retried when the backoff would leave too little of the lookup's deadline.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from aicmo.settings import GatewaySettings
from aicmo.tasks.gateway._deadline import Deadline, worth_retrying
from aicmo.tasks.gateway._errors import ProviderError


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit() or value.replace(".", "", 1).isdigit():
        return max(0.0, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def full_jitter(attempt: int, base_s: float, max_s: float) -> float:
    """A sleep drawn uniformly from [0, min(max_s, base_s * 2**(attempt-1))] (AWS 'full jitter')."""
    ceiling = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return random.uniform(0.0, ceiling)


def should_retry(exc: BaseException, cap_s: float) -> bool:
    """Whether ``exc`` is worth another try at the same provider."""
    if not isinstance(exc, ProviderError) or not exc.retryable:
        return False
    return not (exc.kind == "rate_limited" and exc.retry_after is not None and exc.retry_after > cap_s)


def backoff_s(exc: BaseException | None, attempt: int, settings: GatewaySettings) -> float:
    """The sleep after failed attempt number ``attempt``: Retry-After on a 429, else full jitter."""
    if isinstance(exc, ProviderError) and exc.kind == "rate_limited" and exc.retry_after is not None:
        return min(exc.retry_after, settings.retry_after_cap_s)
    return full_jitter(attempt, settings.backoff_base_s, settings.backoff_max_s)


class _OutOfTime(stop_base):
    """Stop when the coming backoff would leave no more than ``reserve_s`` of ``deadline``."""

    def __init__(self, deadline: Deadline | None, reserve_s: float) -> None:
        self.deadline = deadline
        self.reserve_s = reserve_s

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.deadline is None:
            return False
        return not worth_retrying(self.deadline.remaining(), retry_state.upcoming_sleep, self.reserve_s)


def retrying(
    settings: GatewaySettings,
    *,
    attempts_done: int = 0,
    deadline: Deadline | None = None,
    reserve_s: float = 0.0,
) -> AsyncRetrying:
    """A tenacity controller for the rest of one provider call, ``attempts_done`` tries in.

    With a ``deadline`` it also stops when the backoff would leave no more than ``reserve_s`` of it.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return backoff_s(exc, attempts_done + state.attempt_number, settings)

    return AsyncRetrying(
        stop=stop_after_attempt(max(1, settings.max_attempts - attempts_done))
        | _OutOfTime(deadline, reserve_s),
        wait=wait,
        retry=retry_if_exception(lambda exc: should_retry(exc, settings.retry_after_cap_s)),
        reraise=True,
    )
