"""The generator on the store, lake and home the settings name (shared by the CLI and the task)."""

from __future__ import annotations

from datetime import date

from aicmo.settings import get_settings
from aicmo.tasks.sample.dataset import ProgressFn, generate_dataset
from aicmo.tasks.sample.params import DatasetSummary
from aicmo.wiring import engine, lake


def generate_into_configured_store(
    contacts: int, days: int, seed: int, end: date | None = None, *, progress: ProgressFn | None = None
) -> DatasetSummary:
    """Generate into the configured store (the embedded one migrates itself, see ``aicmo.wiring``), creatives under ``<home>/assets``."""
    eng = engine()
    return generate_dataset(
        eng,
        lake(),
        contacts=contacts,
        days=days,
        seed=seed,
        end=end,
        assets_dir=get_settings().home / "assets",
        progress=progress,
    )
