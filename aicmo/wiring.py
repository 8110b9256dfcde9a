"""The composition root: the store, the lake and the provider chains, built from settings once per process.

Every layer asks here for the parts it runs on instead of assembling them from settings itself,
so a scheduled run, a manual run, the demo and the tests are wired the same way. It is the one
kernel module that knows the storage and task libraries; it imports them (and the settings) inside
its functions, so importing the kernel stays cheap and free of cycles.

The embedded SQLite store creates and migrates itself on first use; a configured store (PostgreSQL)
that is behind the code is refused with one line saying to run ``aicmo db upgrade``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from aicmo.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from aicmo.settings import Settings
    from aicmo.storage.lake import Lake
    from aicmo.tasks.gateway import ProviderChain

_LAKES: dict[str, Lake] = {}
_CHECKED: set[str] = set()


def engine(*, check_schema: bool = True) -> Engine:
    """The store's engine per the current settings (pooled), its schema checked once per process.

    ``check_schema=False`` is for the commands that inspect or migrate the schema themselves.
    """
    from aicmo.settings import get_settings
    from aicmo.storage.db import get_engine
    from aicmo.storage.migrate import ensure_schema

    settings = get_settings()
    url = settings.resolved_database_url
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    else:
        _check_sqlite_folder(url)
    eng = get_engine(url)
    if check_schema and url not in _CHECKED:
        if settings.database_url is None:
            ensure_schema(eng)
        else:
            _refuse_if_behind(eng)
        _CHECKED.add(url)
    return eng


def _check_sqlite_folder(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().parent
        if not folder.is_dir():
            raise ConfigError(f"AICMO_DATABASE_URL: folder {folder} does not exist; create it or fix the URL")


def _refuse_if_behind(eng: Engine) -> None:
    from aicmo.storage.migrate import current_revision, head_revision

    current, head = current_revision(eng), head_revision(eng)
    if current != head:
        where = eng.url.render_as_string(hide_password=True)
        state = f"at revision {current}" if current else "not migrated"
        raise ConfigError(f"the store {where} is {state}, this version needs {head}: run `aicmo db upgrade`")


def lake() -> Lake:
    """The lake per the current settings (one per root)."""
    from aicmo.settings import get_settings
    from aicmo.storage.lake import Lake

    root = get_settings().resolved_lake_root
    if root not in _LAKES:
        _LAKES[root] = Lake(root)
    return _LAKES[root]


def chains(settings: Settings | None = None) -> dict[str, ProviderChain]:
    """Every capability's provider chain, built from ``settings`` (default: the current settings)."""
    from aicmo.settings import get_settings
    from aicmo.tasks.providers.registry import build_chains

    return build_chains(settings or get_settings())


@contextmanager
def settings_overrides(values: dict[str, str]) -> Iterator[None]:
    """Run the block with ``AICMO_*`` (and other) environment variables set, settings re-read.

    The demo points every provider at the local fake server this way; the old values (and
    settings) come back after the block.
    """
    from aicmo.settings import reset_settings

    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    reset_settings()
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
