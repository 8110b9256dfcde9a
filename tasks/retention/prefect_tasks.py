"""Prefect task of retention: a thin wrapper passing URLs, so the CLI's dry run does not import Prefect."""

from __future__ import annotations

from datetime import date

from prefect import task

from aicmo.settings import get_settings
from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.retention.policy import RetentionLine, apply_retention


@task(name="apply-retention", persist_result=False)
def retention_task(database_url: str, lake_root: str, today: date, apply: bool) -> list[RetentionLine]:
    """Age the lake and the store as of ``today`` (or only count what would go)."""
    return apply_retention(
        get_engine(database_url), Lake(lake_root), get_settings().retention, today, apply=apply
    )
