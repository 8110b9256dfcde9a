"""The provider gateway: every third-party data call goes through a ``ProviderChain``.

A chain tries its providers in order with retries (exponential backoff, full jitter,
Retry-After), a circuit breaker and a client-side rate limit per provider, within a deadline per
attempt and one per lookup, moving on as its failover policy says (retry, fail fast, or hedge),
caches answers in the SQL store, and reports per-provider metrics. ``enrich_many`` runs a whole batch on one pooled
client with bounded concurrency and returns one ``Outcome`` per key. ``post`` sends one request
of a publishing channel with an ``Idempotency-Key`` (retried only where that is safe).

This module is the gateway's public surface: adapters (``aicmo.tasks.providers``) and the phases
import from here only; the ``_``-prefixed modules are its internals. The gateway knows no
provider: which providers answer which capability is ``aicmo.tasks.providers.registry``'s job.
"""

from aicmo.tasks.gateway._batch import BatchResult, enrich_many
from aicmo.tasks.gateway._breaker import CircuitBreaker
from aicmo.tasks.gateway._cache import purge_expired
from aicmo.tasks.gateway._chain import ProviderChain, normalize_key
from aicmo.tasks.gateway._errors import ProviderError
from aicmo.tasks.gateway._guard import reset_guards
from aicmo.tasks.gateway._lean import LeanClient, NoAnswer, NotSent
from aicmo.tasks.gateway._metrics import MetricsBook, ProviderMetrics
from aicmo.tasks.gateway._outcome import Answer, Outcome
from aicmo.tasks.gateway._post import PostFailed, PostReply, make_lean_client, make_session, post
from aicmo.tasks.gateway._provider import Provider
from aicmo.tasks.gateway._rate_limiter import TokenBucket
from aicmo.tasks.gateway._redact import redact
from aicmo.tasks.gateway._retry import parse_retry_after
from aicmo.tasks.gateway._transport import GatewayClient, HttpReply, TransportName, make_client

__all__ = [
    "Answer",
    "BatchResult",
    "CircuitBreaker",
    "GatewayClient",
    "HttpReply",
    "LeanClient",
    "MetricsBook",
    "NoAnswer",
    "NotSent",
    "Outcome",
    "PostFailed",
    "PostReply",
    "Provider",
    "ProviderChain",
    "ProviderError",
    "ProviderMetrics",
    "TokenBucket",
    "TransportName",
    "enrich_many",
    "make_client",
    "make_lean_client",
    "make_session",
    "normalize_key",
    "parse_retry_after",
    "post",
    "purge_expired",
    "redact",
    "reset_guards",
]
