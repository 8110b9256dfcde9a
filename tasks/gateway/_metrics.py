"""Per-provider counters and latency percentiles, collected per batch (and per chain, cumulatively)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ProviderMetrics:
    """What one provider did: HTTP attempts, answers, failures by kind, failovers, breaker trips."""

    provider: str
    calls: int = 0
    successes: int = 0
    not_found: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    failovers: int = 0
    breaker_trips: int = 0
    retries: int = 0
    latencies_s: list[float] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) of attempt latency in milliseconds, None without calls."""
        if not self.latencies_s:
            return None
        return float(np.percentile(np.asarray(self.latencies_s), q) * 1000.0)

    def as_row(self) -> dict[str, Any]:
        """A flat row for tables and Prefect artifacts."""
        return {
            "provider": self.provider,
            "calls": self.calls,
            "successes": self.successes,
            "not_found": self.not_found,
            "failures": sum(self.failures.values()),
            "failures_by_kind": ", ".join(f"{k}={v}" for k, v in sorted(self.failures.items())) or "-",
            "retries": self.retries,
            "failovers": self.failovers,
            "breaker_trips": self.breaker_trips,
            "p50_ms": _round(self.percentile_ms(50)),
            "p95_ms": _round(self.percentile_ms(95)),
            "p99_ms": _round(self.percentile_ms(99)),
        }

    def merge(self, other: ProviderMetrics) -> None:
        """Add ``other``'s counts into this one."""
        self.calls += other.calls
        self.successes += other.successes
        self.not_found += other.not_found
        self.failures.update(other.failures)
        self.failovers += other.failovers
        self.breaker_trips += other.breaker_trips
        self.retries += other.retries
        self.latencies_s.extend(other.latencies_s)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class MetricsBook:
    """Metrics of several providers, created on first use; safe to share between threads."""

    def __init__(self) -> None:
        self._by_provider: dict[str, ProviderMetrics] = {}
        self._lock = threading.Lock()

    def __getitem__(self, provider: str) -> ProviderMetrics:
        metrics = self._by_provider.get(provider)
        if metrics is None:
            with self._lock:
                metrics = self._by_provider.setdefault(provider, ProviderMetrics(provider))
        return metrics

    def snapshot(self) -> dict[str, ProviderMetrics]:
        """The metrics collected so far, by provider name."""
        return dict(self._by_provider)

    def table(self) -> list[dict[str, Any]]:
        """One row per provider, in first-use order."""
        return [m.as_row() for m in self._by_provider.values()]
