"""The composition root: the store and lake (and, as phases land, chains and channels) built from settings once per process."""

from __future__ import annotations

from sqlalchemy import Engine

from aicmo.settings import get_settings
from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake

_LAKES: dict[str, Lake] = {}


def engine() -> Engine:
    """The store's engine per the current settings."""
    return get_engine(get_settings().resolved_database_url)


def lake() -> Lake:
    """The lake per the current settings."""
    root = get_settings().resolved_lake_root
    if root not in _LAKES:
        _LAKES[root] = Lake(root)
    return _LAKES[root]
