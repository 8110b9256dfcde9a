"""An ordered list of providers for one capability, tried in turn until one answers.

The chain fails over on an error, a timeout, an open breaker, a disabled provider, or a 'not
found' that a later provider might answer; it reports who answered, after how many attempts and
how long it took. When every provider said 'not found', that is an answer too (``ok``, not found).

One lookup ends by ``call_deadline_s``, retries and failover included. How soon the chain moves
on is ``failover_policy``: ``retry`` retries a provider with backoff first (the best source
answers whenever it can); ``fail_fast`` asks the next provider at once after a transient error
(the last provider still retries; the next lookup starts at the first provider again);
``hedged`` is ``fail_fast`` that also asks the next provider, in parallel, when the current one
has been silent for ``hedge_after_s``: the first answer wins and the other call is cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import httpx

from aicmo.settings import GatewaySettings
from aicmo.tasks.gateway._deadline import Deadline
from aicmo.tasks.gateway._errors import ProviderError
from aicmo.tasks.gateway._guard import AttemptTally
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
        attempt = _ChainAttempt(key, time.perf_counter())
        book = metrics if metrics is not None else self.metrics
        lookup = self.normalize(key)
        deadline = Deadline.after(self.settings.call_deadline_s)
        if self.settings.failover_policy == "hedged" and len(self.providers) > 1:
            return await self._call_hedged(lookup, client, book, attempt, deadline)
        retry_all = self.settings.failover_policy == "retry"
        for index, provider in enumerate(self.providers):
            last = index == len(self.providers) - 1
            if deadline.spent():
                attempt.out_of_time(self.providers[index:], deadline)
                break
            answer = await self._ask(
                provider, lookup, client, book, attempt, deadline, last=last, retry=retry_all or last
            )
            if answer is not None and answer.found:
                book[provider.name].successes += 1
                return attempt.found(provider.name, answer)
            if answer is not None:
                book[provider.name].not_found += 1
                attempt.not_found_by = attempt.not_found_by or provider.name
        return attempt.unanswered(self.capability)

    async def _call_hedged(
        self,
        lookup: str,
        client: httpx.AsyncClient,
        book: MetricsBook,
        attempt: _ChainAttempt,
        deadline: Deadline,
    ) -> Outcome:
        """The hedged policy: the next provider starts on a failure, a 'not found' or a silence."""
        count = len(self.providers)
        running: dict[asyncio.Task[Answer | None], int] = {}
        started = 0

        def ask_next() -> None:
            nonlocal started
            index, started = started, started + 1
            provider = self.providers[index]
            call = self._ask(
                provider,
                lookup,
                client,
                book,
                attempt,
                deadline,
                last=index == count - 1,
                retry=index == count - 1,
            )
            running[asyncio.ensure_future(call)] = index

        ask_next()
        winner: tuple[str, Answer] | None = None
        try:
            while running and winner is None:
                silence_s = self.settings.hedge_after_s if started < count else None
                remaining = max(0.0, deadline.remaining())
                timeout = remaining if silence_s is None else min(silence_s, remaining)
                done, _ = await asyncio.wait(running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    if deadline.spent():
                        attempt.out_of_time(
                            self.providers[started:],
                            deadline,
                            asking=[self.providers[i] for i in sorted(running.values())],
                        )
                        break
                    ask_next()  # the providers asked so far are silent: hedge with the next
                    continue
                for task in sorted(done, key=running.__getitem__):
                    provider = self.providers[running.pop(task)]
                    answer = task.result()
                    if answer is not None and answer.found:
                        winner = (provider.name, answer)
                        break
                    if answer is not None:
                        book[provider.name].not_found += 1
                        attempt.not_found_by = attempt.not_found_by or provider.name
                if winner is None and not running and started < count:
                    ask_next()
        finally:
            for task in running:  # still asking, no longer needed (or out of time)
                task.cancel()
                if winner is not None:
                    book[self.providers[running[task]].name].failovers += 1
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if winner is not None:
            book[winner[0]].successes += 1
            return attempt.found(*winner)
        return attempt.unanswered(self.capability)

    async def _ask(
        self,
        provider: Provider,
        lookup: str,
        client: httpx.AsyncClient,
        book: MetricsBook,
        attempt: _ChainAttempt,
        deadline: Deadline,
        *,
        last: bool,
        retry: bool,
    ) -> Answer | None:
        """One provider's answer through its guard, None (and the error noted) when it failed.

        Retries at a provider that is not the last keep a full attempt's time of the deadline
        for the providers after it.
        """
        attempt.tried.append(provider.name)
        provider_metrics = book[provider.name]
        reserve_s = 0.0 if last else self.settings.attempt_deadline_s
        tally = AttemptTally()
        try:
            answer, n = await provider.guard.run(
                partial(provider.fetch, lookup, client),
                self.settings,
                provider_metrics,
                deadline=deadline,
                retry=retry,
                reserve_s=reserve_s,
                tally=tally,
            )
        except asyncio.CancelledError:  # another provider answered first (hedged)
            attempt.attempts += tally.attempts
            raise
        except ProviderError as exc:
            attempt.attempts += exc.attempts
            attempt.errors.append(exc)
            if not last:
                provider_metrics.failovers += 1
            return None
        attempt.attempts += n
        if not isinstance(answer, Answer):
            raise TypeError(f"{provider.name}.fetch returned {type(answer).__name__}, not Answer")
        return answer


@dataclass
class _ChainAttempt:
    """What one ``call`` has seen so far: providers tried, HTTP attempts, errors, a 'not found'."""

    key: str
    started: float
    tried: list[str] = field(default_factory=list)
    errors: list[ProviderError] = field(default_factory=list)
    attempts: int = 0
    not_found_by: str | None = None

    def out_of_time(
        self, untried: Sequence[Provider], deadline: Deadline, *, asking: Sequence[Provider] = ()
    ) -> None:
        """Note that the lookup's deadline passed while ``asking`` and before ``untried`` were asked."""
        parts = [f"the lookup's {deadline.budget_s:g} s deadline passed"]
        if asking:
            parts.append(f"no answer yet from {', '.join(p.name for p in asking)}")
        if untried:
            parts.append(f"not asked: {', '.join(p.name for p in untried)}")
        culprit = asking[-1].name if asking else self.tried[-1] if self.tried else untried[0].name
        self.errors.append(ProviderError(culprit, "timeout", "; ".join(parts)))

    def _error_text(self) -> str | None:
        return "; ".join(str(e) for e in self.errors) or None

    def found(self, provider: str, answer: Answer) -> Outcome:
        """The outcome when ``provider`` found the key."""
        return Outcome(
            key=self.key,
            ok=True,
            found=True,
            value=answer.value,
            provider=provider,
            attempts=self.attempts,
            elapsed_s=time.perf_counter() - self.started,
            error=self._error_text(),
            tried=self.tried,
        )

    def unanswered(self, capability: str) -> Outcome:
        """The outcome when no provider found the key: an honest 'not found', or the failure."""
        elapsed = time.perf_counter() - self.started
        if self.not_found_by is not None:
            return Outcome(
                key=self.key,
                ok=True,
                found=False,
                provider=self.not_found_by,
                attempts=self.attempts,
                elapsed_s=elapsed,
                error=self._error_text(),
                error_kind="not_found",
                tried=self.tried,
            )
        if not self.errors:
            return Outcome(
                key=self.key,
                ok=False,
                attempts=0,
                elapsed_s=elapsed,
                error=f"no provider configured for {capability}",
                error_kind="not_configured",
            )
        return Outcome(
            key=self.key,
            ok=False,
            provider=self.errors[-1].provider,
            attempts=self.attempts,
            elapsed_s=elapsed,
            error=self._error_text(),
            error_kind=self.errors[-1].kind,
            tried=self.tried,
        )
