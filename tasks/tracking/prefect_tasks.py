"""Prefect tasks of the tracking phase: thin wrappers over the batch flush and the inbox import.

Kept apart from the plain modules so that the tracking service does not import Prefect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.tracking.batch_flush import flush_spool, import_inbox


@task(name="flush-tracking-spool", persist_result=False)
def flush_spool_task(
    spool_dir: str, lake_root: str, database_url: str, scanner_window_s: float, segment_bytes: int
) -> dict[str, Any]:
    """What a stopped tracking service left in its spool, into the lake (see :func:`flush_spool`)."""
    return flush_spool(
        Path(spool_dir),
        Lake(lake_root),
        get_engine(database_url),
        scanner_window_s=scanner_window_s,
        segment_bytes=segment_bytes,
    )


@task(name="import-event-inbox", persist_result=False)
def import_inbox_task(inbox: str, lake_root: str, database_url: str) -> dict[str, Any]:
    """Provider export files of the inbox into the lake (see :func:`import_inbox`)."""
    return import_inbox(Path(inbox), Lake(lake_root), get_engine(database_url))
