"""Fault injection for the fake provider server: scripted faults per route, and random ones.

Scripted faults apply to the next ``times`` requests of a route (``None``: every request), in the
order they were added, optionally only to requests whose key matches ``when`` (a request's key is
what it asks about: the city, login or domain; for a Stripe list its ``email``/``customer`` filter,
or else its ``starting_after`` cursor, so a fault can hit page k of a list). Random faults
(for the 10k batches and the benchmark) draw 5xx, 429, resets, malformed bodies and a lognormal
latency per request from a seeded generator.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ROUTES = (
    "stripe.customers",
    "stripe.charges",
    "stripe.payment_intents",
    "github.search",
    "github.user",
    "openweather.weather",
    "company.find",
)
ANY = "*"


@dataclass
class Fault:
    """One way a request goes wrong.

    ``kind``: ``status`` (answer ``status`` with the API's error body), ``rate_limit`` (429 with
    ``retry_after``), ``delay`` (sleep ``delay_s`` then answer normally), ``trickle`` (answer
    normally, but send the body one byte every ``delay_s``), ``reset`` (close the connection
    mid-body), ``malformed`` (200 with truncated JSON), ``wrong_content_type`` (200 with an HTML
    page), ``truncated`` (the real answer's JSON cut in half, sent with a matching Content-Length,
    as a proxy that gave up mid-body would).
    """

    kind: str
    status: int = 500
    retry_after: str | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RandomFaults:
    """Per-request probabilities of faults and a lognormal latency (median ``latency_median_s``)."""

    p_5xx: float = 0.0
    p_429: float = 0.0
    p_reset: float = 0.0
    p_malformed: float = 0.0
    retry_after: str = "0"
    latency_median_s: float = 0.0
    latency_sigma: float = 0.5
    seed: int = 7

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (the process-mode server takes it on its command line)."""
        return asdict(self)


@dataclass
class _Scripted:
    fault: Fault
    remaining: int | None
    when: Callable[[str], bool] | None


class FaultPlan:
    """The faults a running server injects; thread-safe (the server runs on its own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripted: dict[str, list[_Scripted]] = {}
        self._random: dict[str, RandomFaults] = {}
        self._rng: dict[str, random.Random] = {}

    # ---- scripting ----------------------------------------------------------------------------
    def add(
        self, route: str, fault: Fault, *, times: int | None = 1, when: Callable[[str], bool] | None = None
    ) -> FaultPlan:
        """Inject ``fault`` into the next ``times`` requests of ``route`` (``"*"``: any route)."""
        if route != ANY and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; known: {ROUTES}")
        with self._lock:
            self._scripted.setdefault(route, []).append(_Scripted(fault, times, when))
        return self

    def fail(self, route: str, status: int = 500, *, times: int | None = 1, **kw: Any) -> FaultPlan:
        """Answer ``status`` (5xx, 401, 403, 400...) with the API's error body."""
        return self.add(route, Fault("status", status=status), times=times, **kw)

    def rate_limit(
        self, route: str, retry_after: str | None = "1", *, times: int | None = 1, **kw: Any
    ) -> FaultPlan:
        """Answer 429 with ``Retry-After: retry_after`` (seconds or an HTTP-date)."""
        return self.add(route, Fault("rate_limit", status=429, retry_after=retry_after), times=times, **kw)

    def slow(self, route: str, delay_s: float, *, times: int | None = 1, **kw: Any) -> FaultPlan:
        """Sleep ``delay_s`` before answering (past the client's timeout, if you like)."""
        return self.add(route, Fault("delay", delay_s=delay_s), times=times, **kw)

    def trickle(self, route: str, interval_s: float, *, times: int | None = 1, **kw: Any) -> FaultPlan:
        """Answer normally, but send the body one byte every ``interval_s`` (never idle for long)."""
        return self.add(route, Fault("trickle", delay_s=interval_s), times=times, **kw)

    def reset(self, route: str, *, times: int | None = 1, **kw: Any) -> FaultPlan:
        """Send the headers and half the body, then drop the connection."""
        return self.add(route, Fault("reset"), times=times, **kw)

    def malformed(self, route: str, *, times: int | None = 1, **kw: Any) -> FaultPlan:
        """Answer 200 with truncated JSON."""
        return self.add(route, Fault("malformed"), times=times, **kw)

    def truncated(self, route: str, *, times: int | None = 1, **kw: Any) -> FaultPlan:
        """Answer 200 with the first half of the real body (a complete HTTP response of broken JSON)."""
        return self.add(route, Fault("truncated"), times=times, **kw)

    def wrong_content_type(self, route: str, *, times: int | None = 1, **kw: Any) -> FaultPlan:
        """Answer 200 with an HTML page instead of JSON."""
        return self.add(route, Fault("wrong_content_type"), times=times, **kw)

    def random(self, route: str = ANY, config: RandomFaults | None = None, **kw: Any) -> FaultPlan:
        """Draw faults at random on ``route`` (see ``RandomFaults``)."""
        cfg = config or RandomFaults(**kw)
        with self._lock:
            self._random[route] = cfg
            self._rng[route] = random.Random(cfg.seed)
        return self

    def clear(self) -> None:
        """No more faults."""
        with self._lock:
            self._scripted.clear()
            self._random.clear()
            self._rng.clear()

    # ---- drawing ------------------------------------------------------------------------------
    def take(self, route: str, key: str) -> tuple[Fault | None, float]:
        """The fault for one request of ``route`` about ``key``, and the latency to add."""
        with self._lock:
            for name in (route, ANY):
                queue = self._scripted.get(name)
                if not queue:
                    continue
                for index, item in enumerate(queue):
                    if item.when is not None and not item.when(key):
                        continue
                    if item.remaining is not None:
                        item.remaining -= 1
                        if item.remaining <= 0:
                            del queue[index]
                    return item.fault, 0.0
            cfg = self._random.get(route) or self._random.get(ANY)
            if cfg is None:
                return None, 0.0
            rng = self._rng[route if route in self._random else ANY]
            latency = (
                rng.lognormvariate(_ln(cfg.latency_median_s), cfg.latency_sigma)
                if cfg.latency_median_s
                else 0.0
            )
            draw = rng.random()
            for probability, fault in (
                (cfg.p_5xx, Fault("status", status=rng.choice((500, 502, 503)))),
                (cfg.p_429, Fault("rate_limit", status=429, retry_after=cfg.retry_after)),
                (cfg.p_reset, Fault("reset")),
                (cfg.p_malformed, Fault("malformed")),
            ):
                if draw < probability:
                    return fault, latency
                draw -= probability
            return None, latency


def _ln(x: float) -> float:
    import math

    return math.log(x)
