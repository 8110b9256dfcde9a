"""A circuit breaker per provider: closed, open, half-open.

After ``failure_threshold`` consecutive failed attempts the breaker opens and every call fails
over at once, without touching the network. After ``reset_s`` it half-opens: one probe goes
through; success closes it, failure opens it again for another ``reset_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Thread-safe breaker state; ``clock`` is injectable for tests."""

    def __init__(
        self, failure_threshold: int, reset_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self.trips = 0

    @property
    def state(self) -> str:
        """The current state, with an expired open breaker reported as half-open."""
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_s:
                return HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """Whether a call may go out now (in half-open, only one probe at a time)."""
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._state == OPEN:
                if self._clock() - self._opened_at < self.reset_s:
                    return False
                self._state = HALF_OPEN
                self._probe_in_flight = False
            if self._probe_in_flight:
                return False
            self._probe_in_flight = True
            return True

    def record_success(self) -> None:
        """A call succeeded: close the breaker and forget past failures."""
        with self._lock:
            self._state = CLOSED
            self._failures = 0
            self._probe_in_flight = False

    def record_failure(self) -> bool:
        """A call failed; returns True when this failure tripped the breaker open."""
        with self._lock:
            self._failures += 1
            if self._state == HALF_OPEN or (
                self._state == CLOSED and self._failures >= self.failure_threshold
            ):
                self._state = OPEN
                self._opened_at = self._clock()
                self._probe_in_flight = False
                self.trips += 1
                return True
            return False

    def release_probe(self) -> None:
        """A half-open probe ended without a verdict (e.g. a 404): let the next call probe."""
        with self._lock:
            self._probe_in_flight = False
