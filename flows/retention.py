"""The retention flow: age the lake and the store per the retention settings, on a schedule.

Orchestration only: one task applies (or, with ``dry_run``, counts) the retention policy; the flow
records the run and publishes what went as a table artifact.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from aicmo.clock import today
from aicmo.flows.params import Day
from aicmo.flows.run_log import logged_run
from aicmo.settings import get_settings
from aicmo.tasks.retention.prefect_tasks import retention_task


@flow(name="retention", log_prints=True)
def retention(dry_run: bool = False, as_of: Day | None = None) -> dict[str, Any]:
    """Drop old lake partitions, strip personal data from old raw events, prune store bookkeeping.

    Args:
        dry_run: Only count what would be removed; change nothing.
        as_of: Day the ages are measured from; default today (UTC).
    """
    settings = get_settings()
    day = as_of or today()
    with logged_run("retention", {"dry_run": dry_run, "as_of": day}) as stats:
        lines = retention_task(settings.resolved_database_url, settings.resolved_lake_root, day, not dry_run)
        rows = [line.as_row() for line in lines]
        verb = "would remove" if dry_run else "removed"
        create_table_artifact(
            key="retention",
            table=rows,
            description=f"Retention as of {day} ({'dry run: nothing changed' if dry_run else 'applied'}).",
        )
        for line in lines:
            print(f"{line.action} ({line.target}): {verb} {line.rows} rows, {line.partitions} partitions")
        stats.update({"rows": sum(line.rows for line in lines), "dry_run": dry_run})
    return {"as_of": day, "dry_run": dry_run, "lines": rows}
