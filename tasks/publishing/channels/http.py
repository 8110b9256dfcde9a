"""What the HTTP channels share: one pooled client, a concurrency bound, a rate limit, a breaker,
and the mapping of a POST's outcome to a verdict.

POSTs go through ``aicmo.tasks.gateway.post`` (safe retries, Retry-After, breaker). A failure
that may have reached the API and could not be retried safely is ``unknown``; a 2xx is ``sent``;
a 429/5xx that outlived the retries is transient; 401/403 halts the campaign; any other 4xx is
for the adapter to classify (permanent by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from aicmo.settings import GatewaySettings, PublishingSettings
from aicmo.tasks.gateway import (
    CircuitBreaker,
    LeanClient,
    PostFailed,
    PostReply,
    TokenBucket,
    make_lean_client,
    make_session,
    parse_retry_after,
)
from aicmo.tasks.publishing.channels.base import ChannelHalt, Envelope, Pacer, Verdict


class HttpChannel:
    """Base of the HTTP adapters: ``send`` runs ``deliver`` for a window's envelopes concurrently."""

    name = "http"
    credential_hint = ""
    # Whether the default client is the gateway's lean keep-alive client (bytes bodies only)
    # rather than an aiohttp session (which the adapters that post forms or use its API need).
    lean_client = False

    def __init__(
        self,
        settings: PublishingSettings,
        *,
        rate_per_s: float | None = None,
        concurrency: int = 32,
        gateway: GatewaySettings | None = None,
        client_factory: Callable[[], aiohttp.ClientSession | LeanClient] | None = None,
    ) -> None:
        self.settings = settings
        self.gateway = gateway or GatewaySettings(backoff_base_s=0.05, backoff_max_s=2.0, max_attempts=4)
        self.pacer: Pacer = TokenBucket(rate_per_s or settings.rate_limit_per_s)
        self.concurrency = concurrency
        self._limit = asyncio.Semaphore(concurrency)
        make = make_lean_client if self.lean_client else make_session
        self._client_factory = client_factory or (lambda: make(self.gateway, connections=concurrency))
        self.client: aiohttp.ClientSession | LeanClient | None = None
        self.breaker = CircuitBreaker(self.gateway.breaker_failure_threshold, self.gateway.breaker_reset_s)
        self._halt: str | None = None

    async def open(self) -> None:
        """Create the pooled client."""
        self.client = self._client_factory()

    async def close(self) -> None:
        """Close the pooled client."""
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def deliver(self, envelope: Envelope) -> Verdict:
        """One attempt (with the gateway's safe retries) at one envelope."""
        raise NotImplementedError

    async def _one(self, envelope: Envelope) -> Verdict:
        if self._halt is not None:
            return Verdict.not_tried("halted")
        async with self._limit:
            await self.pacer.acquire()
            if self._halt is not None:
                return Verdict.not_tried("halted")
            try:
                return await self.deliver(envelope)
            except PostFailed as exc:
                if exc.may_have_arrived:
                    return Verdict.unknown(f"{exc.kind}: {exc.detail}")
                return Verdict.transient(f"{exc.kind}: {exc.detail}")
            except ChannelHalt as exc:
                self._halt = str(exc)
                return Verdict.not_tried("halted")

    async def send(self, envelopes: list[Envelope]) -> list[Verdict]:
        """Deliver a window concurrently; a halt met by any envelope stops the rest.

        ``concurrency`` workers take the window's envelopes in turn (one task per worker, not
        per envelope: a task per message costs more than aiohttp's whole request on loopback).
        """
        verdicts: list[Verdict] = [Verdict.not_tried("halted")] * len(envelopes)
        todo = iter(range(len(envelopes)))

        async def worker() -> None:
            for i in todo:
                verdicts[i] = await self._one(envelopes[i])

        workers = min(self.concurrency, len(envelopes))
        if workers == 1:
            await worker()
        else:
            await asyncio.gather(*(worker() for _ in range(workers)))
        if self._halt is not None:
            raise ChannelHalt(self._halt, verdicts)
        return verdicts

    def classify(self, response: PostReply, detail: str) -> Verdict:
        """The verdict of a non-2xx answer (adapters refine the 4xx cases)."""
        status = response.status_code
        if status in (401, 403):
            raise ChannelHalt(
                f"{self.name}: the API refused the credentials ({status} {detail}); check {self.credential_hint}"
            )
        if status == 429 or status >= 500:
            return Verdict.transient(
                f"{status} {detail}", parse_retry_after(response.headers.get("Retry-After"))
            )
        return Verdict.permanent(f"{status} {detail}", "rejected")
