"""The composition root: the store and lake (and, as phases land, chains and channels) built from settings once per process.

The embedded SQLite store creates and migrates itself on first use; a configured store (PostgreSQL)
that is behind the code is refused with one line saying to run ``aicmo db upgrade``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from aicmo.errors import ConfigError
from aicmo.settings import get_settings
from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake
from aicmo.storage.migrate import current_revision, ensure_schema, head_revision

_LAKES: dict[str, Lake] = {}
_CHECKED: set[str] = set()


def engine(*, check_schema: bool = True) -> Engine:
    """The store's engine per the current settings, its schema checked once per process.

    ``check_schema=False`` is for the commands that inspect or migrate the schema themselves.
    """
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
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().parent
        if not folder.is_dir():
            raise ConfigError(f"AICMO_DATABASE_URL: folder {folder} does not exist; create it or fix the URL")


def _refuse_if_behind(eng: Engine) -> None:
    current, head = current_revision(eng), head_revision(eng)
    if current != head:
        where = eng.url.render_as_string(hide_password=True)
        state = f"at revision {current}" if current else "not migrated"
        raise ConfigError(f"the store {where} is {state}, this version needs {head}: run `aicmo db upgrade`")


def lake() -> Lake:
    """The lake per the current settings."""
    root = get_settings().resolved_lake_root
    if root not in _LAKES:
        _LAKES[root] = Lake(root)
    return _LAKES[root]
