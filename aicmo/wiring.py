"""The composition root: the store, the lake and the provider chains, built from settings once per process.

Every layer asks here for the parts it runs on instead of assembling them from settings itself,
so a scheduled run, a manual run, the demo and the tests are wired the same way. It is the one
kernel module that knows the storage and task libraries; it imports them inside its functions,
so importing the kernel stays cheap and free of cycles.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aicmo.settings import Settings, get_settings, reset_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from aicmo.storage.lake import Lake
    from aicmo.tasks.gateway import ProviderChain

_LAKES: dict[str, Lake] = {}


def engine() -> Engine:
    """The store's engine per the current settings (pooled, one per database URL)."""
    from aicmo.storage.db import get_engine

    return get_engine(get_settings().resolved_database_url)


def lake() -> Lake:
    """The lake per the current settings (one per root)."""
    from aicmo.storage.lake import Lake

    root = get_settings().resolved_lake_root
    if root not in _LAKES:
        _LAKES[root] = Lake(root)
    return _LAKES[root]


def chains(settings: Settings | None = None) -> dict[str, ProviderChain]:
    """Every capability's provider chain, built from ``settings`` (default: the current settings)."""
    from aicmo.tasks.providers.registry import build_chains

    return build_chains(settings or get_settings())


@contextmanager
def settings_overrides(values: dict[str, str]) -> Iterator[None]:
    """Run the block with ``AICMO_*`` (and other) environment variables set, settings re-read.

    The demo points every provider at the local fake server this way; the old values (and
    settings) come back after the block.
    """
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
