"""A sample dataset generated once per test module, on SQLite, with a fixed end day (and "today" frozen)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from aicmo import clock
from aicmo.models.base import Base
from aicmo.storage.db import make_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.sample import DatasetSummary, generate_dataset
from tests.fixed_days import FAKE_TODAY, SAMPLE_DATASET

END = SAMPLE_DATASET.end


@dataclass
class Generated:
    """A generated dataset: its store, lake, folder and summary."""

    engine: Engine
    lake: Lake
    root: Path
    summary: DatasetSummary


def generate_into(
    root: Path,
    *,
    contacts: int,
    days: int,
    seed: int,
    engine: Engine | None = None,
    end: date | None = END,
) -> Generated:
    """Generate into a fresh SQLite store and lake under ``root`` (or into ``engine``), ending ``end``
    (None: the generator's default, yesterday by :mod:`aicmo.clock`)."""
    root.mkdir(parents=True, exist_ok=True)
    if engine is None:
        engine = make_engine(f"sqlite:///{root / 'store.db'}")
        Base.metadata.create_all(engine)
    lake = Lake(str(root / "lake"))
    summary = generate_dataset(
        engine, lake, contacts=contacts, days=days, seed=seed, end=end, assets_dir=root / "assets"
    )
    return Generated(engine, lake, root, summary)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """6000 contacts over 70 days, seed 11 (:data:`tests.fixed_days.SAMPLE_DATASET`)."""
    w = SAMPLE_DATASET
    with clock.frozen(FAKE_TODAY):
        gen = generate_into(tmp_path_factory.mktemp("sample"), contacts=w.contacts, days=w.days, seed=w.seed)
    yield gen
    gen.engine.dispose()
