"""Where a flow's fanned-out tasks run: Prefect's thread pool by default, a Dask cluster when configured.

A flow that fans out (one task per chunk of day partitions, say) is declared with
``task_runner=task_runner()``, so the same flow runs its tasks in threads on a laptop and on the
workers of a ``distributed`` cluster in production (``AICMO_TASK_RUNNER=dask``, with
``AICMO_DASK_ADDRESS`` naming the scheduler, or a local cluster of ``AICMO_DASK_WORKERS`` processes).
Tasks take URLs and plain values, never open connections, so they can travel to another process or
machine; the store (PostgreSQL) and the lake (an fsspec URL) are what the workers share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from aicmo.errors import ConfigError
from aicmo.settings import Settings, get_settings

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

T = TypeVar("T")


def task_runner(settings: Settings | None = None) -> TaskRunner[Any]:
    """The task runner the settings ask for (read when a flow module is imported)."""
    settings = settings or get_settings()
    if settings.task_runner == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ConfigError(
                "AICMO_TASK_RUNNER=dask needs the dask extra: pip install 'aicmo[dask]'"
            ) from None
        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": settings.dask_workers,
                "threads_per_worker": 1,
                "dashboard_address": None,
            }
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner()


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive chunks of at most ``size`` (one fanned-out task each)."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
