"""The provider gateway's result cache in the store (``provider_cache``): batched reads and upserts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from aicmo.models.base import utcnow
from aicmo.models.gateway import ProviderCacheEntry
from aicmo.storage.db import transaction
from aicmo.storage.erasure import deleted_rows
from aicmo.storage.upsert import bulk_upsert

READ_CHUNK = 5_000


def unexpired_answers(
    engine: Engine, capability: str, keys: Sequence[str], now: datetime
) -> dict[str, ProviderCacheEntry]:
    """The cache entries of ``capability`` for ``keys`` that expire after ``now``, by key."""
    found: dict[str, ProviderCacheEntry] = {}
    with transaction(engine) as session:
        for start in range(0, len(keys), READ_CHUNK):
            chunk = list(keys[start : start + READ_CHUNK])
            rows = session.scalars(
                select(ProviderCacheEntry).where(
                    ProviderCacheEntry.capability == capability,
                    ProviderCacheEntry.key.in_(chunk),
                    ProviderCacheEntry.expires_at > now,
                )
            )
            for row in rows:
                found[row.key] = row
    return found


def upsert_answers(engine: Engine, rows: Sequence[dict[str, Any]]) -> int:
    """Upsert cache rows in one transaction; returns rows written."""
    if not rows:
        return 0
    with transaction(engine) as session:
        return bulk_upsert(
            session,
            ProviderCacheEntry.__table__,
            rows,
            ("capability", "key"),
            ("provider", "found", "payload", "fetched_at", "expires_at"),
        )


def delete_expired_answers(engine: Engine) -> int:
    """Delete expired entries; returns how many went."""
    with transaction(engine) as session:
        return deleted_rows(
            session, delete(ProviderCacheEntry).where(ProviderCacheEntry.expires_at <= utcnow())
        )


def delete_cached_answers(session: Session, key: str) -> int:
    """Delete every capability's cached answer for ``key`` (case-insensitive); returns rows removed."""
    return deleted_rows(session, delete(ProviderCacheEntry).where(func.lower(ProviderCacheEntry.key) == key))
