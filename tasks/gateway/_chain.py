"""An ordered list of providers for one capability, tried in turn until one answers.

The chain fails over on an error, a timeout, an open breaker, a disabled provider, or a 'not
found' that a later provider might answer; it reports who answered, after how many attempts and
how long it took. When every provider said 'not found', that is an answer too (``ok``, not found).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

import httpx

from aicmo.settings import GatewaySettings
from aicmo.tasks.gateway._errors import ProviderError
from aicmo.tasks.gateway._metrics import MetricsBook
from aicmo.tasks.gateway._outcome import Answer, Outcome
from aicmo.tasks.gateway._provider import Provider


def normalize_key(key: str) -> str:
    """The cache and lookup form of a key: trimmed and lower-cased (emails, domains, cities)."""
    return key.strip().lower()


class ProviderChain:
    """Providers of one ``capability`` in order of preference, with cache TTLs for their answers."""

    def __init__(
        self,
        capability: str,
        providers: Sequence[Provider],
        *,
        settings: GatewaySettings | None = None,
        cache_ttl_s: int | None = None,
        negative_ttl_s: int | None = None,
        normalize: Callable[[str], str] = normalize_key,
    ) -> None:
        self.capability = capability
        self.providers = list(providers)
        self.settings = settings or GatewaySettings()
        self.cache_ttl_s = self.settings.cache_ttl_s if cache_ttl_s is None else cache_ttl_s
        self.negative_ttl_s = self.settings.negative_cache_ttl_s if negative_ttl_s is None else negative_ttl_s
        self.normalize = normalize
        self.metrics = MetricsBook()

    def __repr__(self) -> str:
        return f"<ProviderChain {self.capability}: {' -> '.join(p.name for p in self.providers)}>"

    async def call(
        self, key: str, client: httpx.AsyncClient, *, metrics: MetricsBook | None = None
    ) -> Outcome:
        """Ask the providers in turn for ``key``; never raises for a provider's failure."""
        started = time.perf_counter()
        book = metrics if metrics is not None else self.metrics
        lookup = self.normalize(key)
        errors: list[ProviderError] = []
        tried: list[str] = []
        attempts = 0
        not_found_by: str | None = None
        for index, provider in enumerate(self.providers):
            tried.append(provider.name)
            provider_metrics = book[provider.name]
            try:
                answer, n = await provider.guard.run(
                    partial(provider.fetch, lookup, client),
                    self.settings,
                    provider_metrics,
                )
            except ProviderError as exc:
                attempts += exc.attempts
                errors.append(exc)
                if index < len(self.providers) - 1:
                    provider_metrics.failovers += 1
                continue
            attempts += n
            if not isinstance(answer, Answer):
                raise TypeError(f"{provider.name}.fetch returned {type(answer).__name__}, not Answer")
            if answer.found:
                provider_metrics.successes += 1
                return Outcome(
                    key=key,
                    ok=True,
                    found=True,
                    value=answer.value,
                    provider=provider.name,
                    attempts=attempts,
                    elapsed_s=time.perf_counter() - started,
                    error="; ".join(str(e) for e in errors) or None,
                    tried=tried,
                )
            provider_metrics.not_found += 1
            not_found_by = not_found_by or provider.name
        elapsed = time.perf_counter() - started
        if not_found_by is not None:
            return Outcome(
                key=key,
                ok=True,
                found=False,
                provider=not_found_by,
                attempts=attempts,
                elapsed_s=elapsed,
                error="; ".join(str(e) for e in errors) or None,
                error_kind="not_found",
                tried=tried,
            )
        if not errors:
            return Outcome(
                key=key,
                ok=False,
                attempts=0,
                elapsed_s=elapsed,
                error=f"no provider configured for {self.capability}",
                error_kind="not_configured",
            )
        return Outcome(
            key=key,
            ok=False,
            provider=errors[-1].provider,
            attempts=attempts,
            elapsed_s=elapsed,
            error="; ".join(str(e) for e in errors),
            error_kind=errors[-1].kind,
            tried=tried,
        )
