"""The provider result cache in the SQL store (``provider_cache``), read and written in batches.

A positive answer lives ``cache_ttl_s`` seconds, a 'not found' ``negative_ttl_s`` seconds (a
shorter time: the world may have caught up). Errors are never cached. Reads take one query per
chunk of keys; writes are one bulk upsert per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from aicmo.models.base import utcnow
from aicmo.models.gateway import ProviderCacheEntry
from aicmo.storage import gateway as store
from aicmo.tasks.gateway._outcome import Outcome

MAX_KEY_LENGTH = 512


def read_cache(engine: Engine, capability: str, keys: Sequence[str]) -> dict[str, ProviderCacheEntry]:
    """The unexpired cache entries of ``capability`` for ``keys`` (normalized), by key."""
    wanted = [k for k in keys if len(k) <= MAX_KEY_LENGTH]
    return store.unexpired_answers(engine, capability, wanted, utcnow())


def cache_rows(
    capability: str, outcomes: Sequence[tuple[str, Outcome]], ttl_s: int, negative_ttl_s: int
) -> list[dict[str, Any]]:
    """Rows to upsert for ``(normalized key, outcome)`` pairs that deserve caching.

    Cached: found answers, and 'not found' answers that every provider tried agreed on. Not
    cached: failures, and 'not found' answers given while another provider was failing.
    """
    now = utcnow()
    rows: dict[str, dict[str, Any]] = {}
    for key, outcome in outcomes:
        if not outcome.ok or len(key) > MAX_KEY_LENGTH:
            continue
        if outcome.found:
            ttl = ttl_s
        elif outcome.error is None:
            ttl = negative_ttl_s
        else:
            continue
        if ttl <= 0:
            continue
        rows[key] = {
            "capability": capability,
            "key": key,
            "provider": outcome.provider,
            "found": outcome.found,
            "payload": outcome.value,
            "fetched_at": now,
            "expires_at": now + timedelta(seconds=ttl),
        }
    return list(rows.values())


def write_cache(engine: Engine, rows: Sequence[dict[str, Any]]) -> int:
    """Upsert cache rows in one transaction; returns rows written."""
    return store.upsert_answers(engine, rows)


def purge_expired(engine: Engine) -> int:
    """Delete expired entries; returns how many went."""
    return store.delete_expired_answers(engine)
