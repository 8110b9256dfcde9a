"""Recently seen webhook signatures: a replayed request is answered without writing it again."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class ReplayGuard:
    """Keys seen in the last ``ttl_s`` seconds (at most ``capacity`` of them)."""

    def __init__(self, ttl_s: float, capacity: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._seen:
            _, at = next(iter(self._seen.items()))
            if now - at <= self.ttl_s and len(self._seen) <= self.capacity:
                break
            self._seen.popitem(last=False)

    def seen(self, key: str) -> bool:
        """Whether ``key`` was recorded recently."""
        with self._lock:
            self._expire(time.monotonic())
            return key in self._seen

    def record(self, key: str) -> None:
        """Remember ``key`` (after its request's events are durable)."""
        with self._lock:
            self._seen[key] = time.monotonic()
            self._seen.move_to_end(key)
