"""The backfill: one run per day, a dry run that changes nothing, resumes what a crash left, names failed days."""

from __future__ import annotations

import socket
import subprocess
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from aicmo import wiring
from aicmo.models.backfill import BackfillDay
from aicmo.storage.db import transaction
from aicmo.tasks.sample import generate_dataset
from tests.artifacts import progress_values

END = date(2026, 6, 10)
START = END - timedelta(days=2)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.slow
def test_backfill_runs_each_day_once_resumes_a_crash_and_names_failed_days(
    prefect_harness: None, aicmo_home: Path
) -> None:
    from aicmo.flows.backfill import BackfillFailed, backfill

    engine, lake = wiring.engine(), wiring.lake()
    generate_dataset(engine, lake, contacts=60, days=7, seed=3, end=END, assets_dir=aicmo_home / "assets")
    kpis_before = set(lake.partitions("kpis_daily"))

    plan = backfill(start=START, end=END, steps=["aggregate"], dry_run=True)
    assert [(d["day"], d["action"], d["why"]) for d in plan["days"]] == [
        (str(START + timedelta(days=i)), "run", "never done") for i in range(3)
    ]
    assert set(lake.partitions("kpis_daily")) == kpis_before  # a dry run writes nothing

    earlier = len(progress_values("backfill-progress"))  # other tests' backfills on this server
    first = backfill(start=START, end=END, steps=["aggregate"], max_parallel=2, reverse=True)
    assert [d["day"] for d in first["days"]] == [str(END - timedelta(days=i)) for i in range(3)]
    assert {d["outcome"] for d in first["days"]} == {"completed"}
    assert progress_values("backfill-progress")[earlier:] == [100.0]  # this run's bar, at its end
    days = {START + timedelta(days=i) for i in range(3)}
    assert days <= set(lake.partitions("kpis_daily"))
    numbers = lake.read_partition("kpis_daily", END).sort(pl.all())

    assert backfill(start=START, end=END, steps=["aggregate"], dry_run=True)["to_run"] == 0  # all done

    # a backfill killed mid-day leaves its row running, owned by a process that is gone
    with transaction(engine) as session:
        row = session.get(BackfillDay, (END, "aggregate"))
        assert row is not None
        row.status, row.owner = "running", {"host": socket.gethostname(), "pid": _dead_pid()}
    resumed = backfill(start=START, end=END, steps=["aggregate"], reprocess="none")
    assert [(d["day"], d["state"], d["outcome"]) for d in resumed["days"] if d["action"] == "run"] == [
        (str(END), "crashed", "completed")
    ]
    assert lake.read_partition("kpis_daily", END).sort(pl.all()).equals(numbers)  # same numbers again

    lake.fs.pipe(lake.partition_path("events", START), b"not parquet")
    with pytest.raises(BackfillFailed, match=rf"^1 of 1 days failed: {START} \(.*ComputeError"):
        backfill(start=START, end=START, steps=["aggregate"], reprocess="all")
    again = backfill(start=START, end=END, steps=["aggregate"], dry_run=True, reprocess="none")
    first_day = again["days"][0]
    assert (first_day["day"], first_day["action"], first_day["state"]) == (str(START), "skip", "failed")
