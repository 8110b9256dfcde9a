"""The provider gateway: every third-party data call goes through a ``ProviderChain``.

A chain tries its providers in order with retries (exponential backoff, full jitter,
Retry-After), a circuit breaker and a client-side rate limit per provider, caches answers in the
SQL store, and reports per-provider metrics. ``enrich_many`` runs a whole batch on one pooled
client with bounded concurrency and returns one ``Outcome`` per key.
"""

from aicmo.tasks.gateway.batch import BatchResult, enrich_many
from aicmo.tasks.gateway.build import CAPABILITIES, build_chains
from aicmo.tasks.gateway.chain import ProviderChain, normalize_key
from aicmo.tasks.gateway.errors import ProviderError
from aicmo.tasks.gateway.guard import reset_guards
from aicmo.tasks.gateway.metrics import MetricsBook, ProviderMetrics
from aicmo.tasks.gateway.outcome import Answer, Outcome
from aicmo.tasks.gateway.provider import Provider
from aicmo.tasks.gateway.redact import redact
from aicmo.tasks.gateway.transport import make_client

__all__ = [
    "CAPABILITIES",
    "Answer",
    "BatchResult",
    "MetricsBook",
    "Outcome",
    "Provider",
    "ProviderChain",
    "ProviderError",
    "ProviderMetrics",
    "build_chains",
    "enrich_many",
    "make_client",
    "normalize_key",
    "redact",
    "reset_guards",
]
