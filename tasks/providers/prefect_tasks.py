"""Prefect tasks of the providers: thin wrappers that pass ids, URLs and counts, never rows."""

from __future__ import annotations

from prefect import task

from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.providers.revenue import RevenueSyncReport, sync_or_report_why_not


@task(name="sync-stripe-orders", persist_result=False)
def sync_stripe_orders_task(database_url: str, lake_root: str, source: str = "charges") -> RevenueSyncReport:
    """Sync Stripe payments into the lake's orders (ids and counts only leave it; ``error`` when Stripe is unavailable)."""
    return sync_or_report_why_not(get_engine(database_url), Lake(lake_root), source=source)
