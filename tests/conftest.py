"""Shared fixtures: an isolated AICMO_HOME, a store on SQLite (and PostgreSQL when configured), a lake."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from aicmo.prefect_env import configure_prefect

configure_prefect(Path(os.environ.get("AICMO_TEST_PREFECT_HOME", "/tmp/aicmo-test-prefect")))

from aicmo.models.base import Base  # noqa: E402
from aicmo.settings import reset_settings  # noqa: E402
from aicmo.storage.db import dispose_engines, make_engine  # noqa: E402
from aicmo.storage.lake import Lake  # noqa: E402
from aicmo.storage.migrate import upgrade  # noqa: E402

POSTGRES_URL = os.environ.get("AICMO_TEST_POSTGRES_URL")
DB_BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def _postgres_engine(schema: str) -> Engine:
    """An engine whose connections live in their own fresh PostgreSQL schema."""
    assert POSTGRES_URL is not None
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})


def _drop_postgres_schema(schema: str) -> None:
    assert POSTGRES_URL is not None
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def build_engine(backend: str, tmp_path: Path, *, migrate: bool = False) -> tuple[Engine, str | None]:
    """A fresh, empty store on ``backend``; returns the engine and the PostgreSQL schema if any."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
        schema = None
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        engine = _postgres_engine(schema)
    if migrate:
        upgrade(engine)
    else:
        Base.metadata.create_all(engine)
    return engine, schema


@pytest.fixture(params=DB_BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """Each storage test runs once per configured database."""
    return str(request.param)


@pytest.fixture
def engine(db_backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty store with every table, on SQLite and (when configured) PostgreSQL."""
    eng, schema = build_engine(db_backend, tmp_path)
    yield eng
    eng.dispose()
    if schema:
        _drop_postgres_schema(schema)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty SQLite store, for tests that are not about the database."""
    eng, _ = build_engine("sqlite", tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    """An empty lake in a temporary folder."""
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def aicmo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated AICMO_HOME with default SQLite store and lake under it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("AICMO_HOME", str(home))
    monkeypatch.delenv("AICMO_DATABASE_URL", raising=False)
    monkeypatch.delenv("AICMO_LAKE_ROOT", raising=False)
    reset_settings()
    yield home
    dispose_engines()
    reset_settings()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session (start-up costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_api_url(prefect_harness: None) -> str:
    """The session server's API URL. A CLI subprocess given it as ``PREFECT_API_URL`` runs its flows
    there instead of starting an ephemeral server of its own (seconds per process, more under load)."""
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with slow tests run first, the slowest files first of all.

    The suite is split over workers file by file: a slow file left to the end keeps one worker busy
    while the other idles. Started first, the long files overlap the many short ones.
    """
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    first = {name: rank for rank, name in enumerate(FIRST_FILES)}
    items.sort(key=lambda item: (first.get(item.path.name, len(first)), item.path not in slow_files))


FIRST_FILES = ("test_end_to_end_worker.py", "test_demo_and_chains.py", "test_alerts.py")
"""The three longest files (a server and a worker, the demo, the alerts' triggers), in that order."""
