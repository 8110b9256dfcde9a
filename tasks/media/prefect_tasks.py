"""Prefect tasks of the media phase: thin wrappers over the plain functions, passing ids and paths only.

Kept apart from the plain modules so that the ``aicmo media`` commands do not import Prefect.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from aicmo.settings import get_settings
from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake
from aicmo.storage.media import ContentStore
from aicmo.tasks.media.ingest import Labels, ingest_paths
from aicmo.tasks.media.library import suggest
from aicmo.tasks.media.variants import make_variants


@task(name="ingest-media", persist_result=False)
def ingest_task(
    database_url: str, paths: list[str], owner: str | None = None, library: str | None = None
) -> dict[str, Any]:
    """Add files and folders to the library (one batch); returns counts and the refused files."""
    labels = Labels(owner=owner, library=library)
    report = ingest_paths(get_engine(database_url), paths, labels, media=get_settings().media)
    return report.summary()


@task(name="suggest-media", persist_result=False)
def suggest_task(database_url: str, lake_root: str) -> dict[str, Any]:
    """Performance, near-duplicates and spec checks -> the suggestions, stored as one run."""
    return suggest(get_engine(database_url), Lake(lake_root), get_settings().media)


@task(name="media-variants", persist_result=False)
def variants_task(
    database_url: str, store_url: str, asset_ids: list[int], channels: list[str]
) -> dict[str, Any]:
    """Render the variants of a batch of assets for the channels' specs."""
    report = make_variants(
        get_engine(database_url), ContentStore(store_url), asset_ids, channels, get_settings().media
    )
    return {"rendered": report.rendered, "cached": report.cached, "skipped": report.skipped or []}
