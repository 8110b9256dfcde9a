"""``generate_dataset``: write a whole sample dataset into the store and the lake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from aicmo.storage.lake import Lake
from aicmo.tasks.sample.params import DatasetSummary

ProgressFn = Callable[[str, int, int], None]


def generate_dataset(
    engine: Engine,
    lake: Lake,
    *,
    contacts: int = 5000,
    days: int = 90,
    seed: int = 7,
    end: date | None = None,
    assets_dir: Path,
    progress: ProgressFn | None = None,
) -> DatasetSummary:
    """Generate the dataset (work in progress)."""
    raise NotImplementedError
