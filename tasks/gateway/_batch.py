"""``enrich_many``: thousands of keys through one chain on one pooled client, one outcome per key.

Keys are normalized and de-duplicated; cached answers are read in one batched query and never
hit the network; the rest run on ``concurrency`` workers; answers are written back to the cache
in bulk. An item that fails (or an adapter that raises) yields a failed ``Outcome`` with a
reason; the batch itself always finishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from aicmo.tasks.gateway._cache import cache_rows, read_cache, write_cache
from aicmo.tasks.gateway._chain import ProviderChain
from aicmo.tasks.gateway._metrics import MetricsBook, ProviderMetrics
from aicmo.tasks.gateway._outcome import Outcome
from aicmo.tasks.gateway._redact import redact
from aicmo.tasks.gateway._transport import make_client

CACHE_FLUSH_EVERY = 2_000
log = logging.getLogger("aicmo.gateway")


@dataclass
class BatchResult:
    """Per-item outcomes (in the order of the keys given) and per-provider metrics of the batch."""

    outcomes: list[Outcome]
    metrics: dict[str, ProviderMetrics]
    cache_hits: int = 0
    elapsed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def metrics_table(self) -> list[dict[str, Any]]:
        """One row per provider (for a Prefect table artifact or the CLI)."""
        return [m.as_row() for m in self.metrics.values()]

    def summary(self) -> dict[str, Any]:
        """Counts of the batch: items, found, not found, failed (by kind), cache hits, elapsed."""
        failed: dict[str, int] = {}
        for o in self.outcomes:
            if not o.ok:
                kind = o.error_kind or "unknown"
                failed[kind] = failed.get(kind, 0) + 1
        return {
            "items": len(self.outcomes),
            "found": sum(1 for o in self.outcomes if o.ok and o.found),
            "not_found": sum(1 for o in self.outcomes if o.ok and not o.found),
            "failed": sum(failed.values()),
            "failed_by_kind": failed,
            "cache_hits": self.cache_hits,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _from_cache(key: str, entry: Any) -> Outcome:
    return Outcome(
        key=key,
        ok=True,
        found=bool(entry.found),
        value=entry.payload,
        provider=entry.provider,
        attempts=0,
        elapsed_s=0.0,
        from_cache=True,
        error_kind=None if entry.found else "not_found",
    )


async def _safe_call(chain: ProviderChain, key: str, client: httpx.AsyncClient, book: MetricsBook) -> Outcome:
    started = time.perf_counter()
    try:
        return await chain.call(key, client, metrics=book)
    except Exception as exc:  # an adapter bug must cost one item, not the batch
        return Outcome(
            key=key,
            ok=False,
            elapsed_s=time.perf_counter() - started,
            error=redact(f"{chain.capability}: internal error: {type(exc).__name__}: {exc}"),
            error_kind="internal",
        )


async def enrich_many(
    chain: ProviderChain,
    keys: Sequence[str],
    *,
    cache_engine: Engine | None = None,
    concurrency: int | None = None,
    client: httpx.AsyncClient | None = None,
) -> BatchResult:
    """Answer every key through ``chain``; returns outcomes in the order of ``keys``."""
    started = time.perf_counter()
    book = MetricsBook()
    for provider in chain.providers:
        book[provider.name]
    normalized = [chain.normalize(k) for k in keys]
    first_key: dict[str, str] = {}
    for original, norm in zip(keys, normalized, strict=True):
        first_key.setdefault(norm, original)
    unique = list(first_key)

    by_norm: dict[str, Outcome] = {}
    if cache_engine is not None and unique:
        try:
            entries = await asyncio.to_thread(read_cache, cache_engine, chain.capability, unique)
        except SQLAlchemyError as exc:  # the cache saves calls; without it the batch still runs
            log.warning("%s: provider cache unreadable, asking the providers: %s", chain.capability, exc)
            entries = {}
        for norm, entry in entries.items():
            by_norm[norm] = _from_cache(first_key[norm], entry)
    cache_hits = len(by_norm)
    todo = [k for k in unique if k not in by_norm]

    pending: list[tuple[str, Outcome]] = []
    flush_lock = asyncio.Lock()

    async def flush(force: bool = False) -> None:
        if cache_engine is None or not pending or (not force and len(pending) < CACHE_FLUSH_EVERY):
            return
        async with flush_lock:
            batch = pending[:]
            pending.clear()
            rows = cache_rows(chain.capability, batch, chain.cache_ttl_s, chain.negative_ttl_s)
            try:
                await asyncio.to_thread(write_cache, cache_engine, rows)
            except SQLAlchemyError as exc:  # the answers are in the outcomes; only the reuse is lost
                log.warning("%s: %d answer(s) not cached: %s", chain.capability, len(rows), exc)

    workers = max(1, min(concurrency or chain.settings.concurrency, len(todo) or 1))
    own_client = client is None
    http = client if client is not None else make_client(chain.settings, max_connections=workers)
    queue = iter(todo)

    async def worker() -> None:
        for norm in queue:
            outcome = await _safe_call(chain, first_key[norm], http, book)
            by_norm[norm] = outcome
            pending.append((norm, outcome))
            if len(pending) >= CACHE_FLUSH_EVERY:
                await flush()

    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
        await flush(force=True)
    finally:
        if own_client:
            await http.aclose()

    for name, provider_metrics in book.snapshot().items():
        chain.metrics[name].merge(provider_metrics)
    outcomes = []
    for original, norm in zip(keys, normalized, strict=True):
        outcome = by_norm[norm]
        if outcome.key != original:
            outcome = Outcome(**{**outcome.__dict__, "key": original})
        outcomes.append(outcome)
    return BatchResult(
        outcomes=outcomes,
        metrics=book.snapshot(),
        cache_hits=cache_hits,
        elapsed_s=time.perf_counter() - started,
    )
