"""Fanned-out flows give the same numbers on Prefect's thread pool and on a Dask cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aicmo import wiring
from aicmo.errors import ConfigError
from aicmo.fanout import chunked, task_runner
from aicmo.models.publishing import Campaign
from aicmo.settings import Settings, reset_settings
from aicmo.storage.db import transaction
from aicmo.storage.runs import record_partitions
from tests.analytics.kpi_helpers import D1, spend, synthetic_events

DAYS = 21


def test_chunks_cover_every_day_once() -> None:
    assert chunked(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunked([], 3) == []


def test_settings_choose_the_runner() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(task_runner(Settings()), ThreadPoolTaskRunner)
    remote = task_runner(Settings(task_runner="dask", dask_address="tcp://10.0.0.5:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"


def test_dask_without_the_extra_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "prefect_dask", None)  # as if the dask extra were not installed
    with pytest.raises(ConfigError, match=r"AICMO_TASK_RUNNER=dask needs the dask extra"):
        task_runner(Settings(task_runner="dask"))


@pytest.fixture
def small_lake(aicmo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Three weeks of events and spend, aggregated in chunks of 5 days (5 tasks)."""
    monkeypatch.setenv("AICMO_FANOUT_CHUNK_DAYS", "5")
    reset_settings()
    engine = wiring.engine()
    with transaction(engine) as session:
        session.add_all(
            [Campaign(id=1, name="spring", channel="email"), Campaign(id=2, name="ads", channel="ads")]
        )
    written = wiring.lake().write("events", synthetic_events(D1, DAYS, seed=5))
    wiring.lake().write("ad_spend", spend([(D1, 2, 25.0)]))
    with transaction(engine) as session:
        record_partitions(session, "events", written)
    yield aicmo_home


@pytest.mark.slow
def test_aggregate_on_a_local_dask_cluster_matches_the_thread_pool(
    small_lake: Path, prefect_harness: None
) -> None:
    from distributed import Client, LocalCluster

    from aicmo.flows.aggregate import aggregate

    threads = aggregate(full=True)
    by_threads = wiring.lake().scan("kpis_daily").drop("dt").collect().sort("day", "campaign_id", "channel")

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        runner = task_runner(Settings(task_runner="dask", dask_address=cluster.scheduler_address))
        on_dask = aggregate.with_options(task_runner=runner)(full=True)
        ran = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    by_dask = wiring.lake().scan("kpis_daily").drop("dt").collect().sort("day", "campaign_id", "channel")

    assert any("daily-kpis" in name or "daily_kpis" in name for name in ran), ran
    assert on_dask["days_recomputed"] == threads["days_recomputed"] == DAYS
    assert on_dask["kpi_rows"] == threads["kpi_rows"] > 0
    assert by_dask.height == by_threads.height
    # Counts agree exactly; money sums to the last bits only, since Polars adds in another order when
    # a Dask worker gives it one thread.
    from polars.testing import assert_frame_equal

    assert_frame_equal(by_dask, by_threads.select(by_dask.columns), check_exact=False, rel_tol=1e-12)
