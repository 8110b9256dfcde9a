"""Deadlines that bound total time, where a socket timeout only bounds idle time.

An idle timeout never fires against a provider that sends one byte just inside it, so a lookup
could take as long as the provider pleased. Two bounds close that: each attempt at a provider
has a deadline (``attempt_deadline_s``), and each lookup has one across its retries and the
chain's failover (``call_deadline_s``). Times are on the monotonic clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Deadline:
    """The monotonic time ``at`` which a call must end, and the budget it was given."""

    at: float
    budget_s: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(time.monotonic() + seconds, seconds)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def spent(self) -> bool:
        """Whether the deadline has passed."""
        return self.remaining() <= 0.0


def attempt_budget(deadline: Deadline, attempt_deadline_s: float) -> tuple[float, bool]:
    """How long the next attempt may take, and whether the call's deadline (not the attempt's) sets it."""
    remaining = deadline.remaining()
    if remaining < attempt_deadline_s:
        return max(0.0, remaining), True
    return attempt_deadline_s, False


def worth_retrying(remaining_s: float, sleep_s: float, reserve_s: float) -> bool:
    """Whether to sleep ``sleep_s`` and try the same provider again with ``remaining_s`` left.

    ``reserve_s`` is kept for the providers after this one (a full attempt when there are any,
    0 for the last): a provider that keeps failing slowly must not spend the whole lookup.
    """
    return remaining_s - sleep_s > reserve_s
