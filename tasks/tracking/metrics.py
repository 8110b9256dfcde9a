"""Prometheus metrics of the tracking service, in a registry of its own (one per app instance)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class TrackingMetrics:
    """Requests, acknowledged and written events, rejects by reason, spool depth, flush latency."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "aicmo_tracking_requests",
            "HTTP requests by endpoint and status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.acknowledged = Counter(
            "aicmo_tracking_events_acknowledged",
            "Events made durable in the spool, by source.",
            ["source"],
            registry=r,
        )
        self.written = Counter(
            "aicmo_tracking_events_written", "New events written to the lake, by type.", ["type"], registry=r
        )
        self.duplicates = Counter(
            "aicmo_tracking_events_duplicate",
            "Events dropped at flush because the lake had them.",
            registry=r,
        )
        self.rejects = Counter(
            "aicmo_tracking_rejects", "Requests refused, by reason.", ["reason"], registry=r
        )
        self.consent_changes = Counter(
            "aicmo_tracking_consent_changes", "Unsubscribes, complaints and hard bounces applied.", registry=r
        )
        self.depth = Gauge(
            "aicmo_tracking_queue_depth", "Acknowledged events not yet in the lake.", registry=r
        )
        self.flush_seconds = Histogram(
            "aicmo_tracking_flush_seconds",
            "Time of one flush of the spool into the lake.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.flush_errors = Counter(
            "aicmo_tracking_flush_errors", "Flushes that failed (retried).", registry=r
        )

    def track_depth(self, source: Callable[[], float]) -> None:
        """Read the queue depth from ``source`` at each scrape."""
        self.depth.set_function(source)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
