"""A sample dataset generated once per test module, on SQLite, with a fixed end day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from aicmo.models.base import Base
from aicmo.storage.db import make_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.sample import DatasetSummary, generate_dataset

END = date(2026, 10, 31)


@dataclass
class Generated:
    """A generated dataset: its store, lake, folder and summary."""

    engine: Engine
    lake: Lake
    root: Path
    summary: DatasetSummary


def generate_into(
    root: Path, *, contacts: int, days: int, seed: int, engine: Engine | None = None
) -> Generated:
    """Generate into a fresh SQLite store and lake under ``root`` (or into ``engine``)."""
    root.mkdir(parents=True, exist_ok=True)
    if engine is None:
        engine = make_engine(f"sqlite:///{root / 'store.db'}")
        Base.metadata.create_all(engine)
    lake = Lake(str(root / "lake"))
    summary = generate_dataset(
        engine, lake, contacts=contacts, days=days, seed=seed, end=END, assets_dir=root / "assets"
    )
    return Generated(engine, lake, root, summary)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """6000 contacts over 70 days, seed 11."""
    gen = generate_into(tmp_path_factory.mktemp("sample"), contacts=6000, days=70, seed=11)
    yield gen
    gen.engine.dispose()
