"""Provider errors, classified by kind so the gateway knows whether to retry, wait or fail over."""

from __future__ import annotations

from aicmo.tasks.gateway._redact import redact

# Kinds worth another try at the same provider (after a backoff).
RETRYABLE = frozenset({"timeout", "connection", "http_5xx", "rate_limited"})
# Kinds that say something about the provider's health (they count towards its breaker).
UNHEALTHY = frozenset({"timeout", "connection", "http_5xx", "malformed"})

KINDS = (
    "timeout",  # no answer within the timeout
    "connection",  # refused, reset (also mid-body), closed early
    "http_5xx",  # 500/502/503/504...
    "rate_limited",  # 429, or a rate-limit window exhausted
    "malformed",  # a body that is not the JSON the API promises (bad JSON, wrong content type, shape)
    "auth",  # 401/403: the credential is refused; the provider is disabled for the run
    "client_error",  # any other 4xx: the request itself is wrong, retrying will not help
    "circuit_open",  # the provider's breaker is open, nothing was sent
    "disabled",  # the provider was disabled earlier in the run (auth)
    "not_configured",  # no provider in the chain could be asked
    "internal",  # a bug in an adapter; reported per item, never fails a batch
)


class ProviderError(Exception):
    """A provider call failed; the message names the provider and never carries a secret."""

    def __init__(
        self,
        provider: str,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.detail = redact(message)
        self.attempts = 0
        super().__init__(f"{provider}: {kind}: {self.detail}")

    @property
    def retryable(self) -> bool:
        """Whether another try at the same provider may succeed."""
        return self.kind in RETRYABLE

    def with_note(self, note: str) -> ProviderError:
        """The same error with ``note`` appended to its message."""
        noted = ProviderError(
            self.provider,
            self.kind,
            f"{self.detail}; {note}",
            status=self.status,
            retry_after=self.retry_after,
        )
        noted.attempts = self.attempts
        return noted
