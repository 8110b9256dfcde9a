"""Pruning the store's bookkeeping past its age: provider cache, run records, finished send ledgers.

Each prune is a count (dry run) or a DELETE of the same rows, in one transaction; the lake half of
retention lives in the lake module's own partition calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, func, or_, select

from aicmo.models.gateway import ProviderCacheEntry
from aicmo.models.publishing import Campaign, OutboxMessage
from aicmo.models.runs import FlowRunRecord, LakePartitionState
from aicmo.storage.db import transaction
from aicmo.storage.erasure import deleted_rows

FINISHED_CAMPAIGN_STATUSES = ("sent", "cancelled")


@dataclass(frozen=True)
class StoreCutoffs:
    """Rows older than these instants go: cache answers fetched, runs finished, campaigns settled."""

    now: datetime
    cache_fetched_before: datetime
    runs_finished_before: datetime
    campaigns_settled_before: datetime


def _targets(cutoffs: StoreCutoffs) -> list[tuple[str, Any, ColumnElement[bool]]]:
    settled = select(Campaign.id).where(
        Campaign.status.in_(FINISHED_CAMPAIGN_STATUSES),
        Campaign.status_changed_at < cutoffs.campaigns_settled_before,
    )
    return [
        (
            "provider_cache",
            ProviderCacheEntry,
            or_(
                ProviderCacheEntry.expires_at <= cutoffs.now,
                ProviderCacheEntry.fetched_at < cutoffs.cache_fetched_before,
            ),
        ),
        (
            "flow_runs",
            FlowRunRecord,
            (FlowRunRecord.status != "running") & (FlowRunRecord.finished_at < cutoffs.runs_finished_before),
        ),
        ("outbox", OutboxMessage, OutboxMessage.campaign_id.in_(settled)),
    ]


def prune_store(engine: Engine, cutoffs: StoreCutoffs, *, apply: bool) -> dict[str, int]:
    """Rows past their age per table: deleted when ``apply``, else only counted."""
    found: dict[str, int] = {}
    with transaction(engine) as session:
        for name, model, condition in _targets(cutoffs):
            if apply:
                found[name] = deleted_rows(session, delete(model).where(condition))
            else:
                found[name] = session.scalar(select(func.count()).select_from(model).where(condition)) or 0
    return found


def forget_partitions(engine: Engine, table: str, days: Iterable[date]) -> int:
    """Drop the written-at records of lake partitions that no longer exist; returns rows removed."""
    days = list(days)
    if not days:
        return 0
    with transaction(engine) as session:
        return deleted_rows(
            session,
            delete(LakePartitionState).where(
                LakePartitionState.table_name == table, LakePartitionState.dt.in_(days)
            ),
        )
