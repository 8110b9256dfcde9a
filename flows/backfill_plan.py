"""Which days a backfill runs: its bookkeeping and the lake say what exists, ``reprocess`` what to redo.

Plain functions (no Prefect), used by the backfill flow and its dry run.

- ``none``: days never done, and days a crashed run left unfinished (they were never done either);
- ``failed`` (default): those, and days whose last attempt failed;
- ``all``: every day (a rerun rewrites the same partitions with the same numbers).

A day another live process is working on is never started twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aicmo.flows.params import Reprocess
from aicmo.models.backfill import BackfillDay
from aicmo.storage.lake import Lake

# Lake tables a day step reads and writes, shown by the dry run.
STEP_TABLES: dict[str, tuple[str, str]] = {
    "aggregate": ("events", "kpis_daily"),
    "ads": ("ad_spend", "ads_roi_daily"),
}


@dataclass
class DayPlan:
    """One day partition: its bookkeeping state, whether this run works on it and why."""

    day: date
    state: str  # missing, partial, completed, failed, crashed, running
    run: bool
    why: str
    attempts: int = 0
    exists: dict[str, bool] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """A flat row for the dry run's table and the artifact."""
        return {
            "day": self.day.isoformat(),
            "action": "run" if self.run else "skip",
            "why": self.why,
            "state": self.state,
            "attempts": self.attempts,
            **{table: "yes" if there else "no" for table, there in self.exists.items()},
        }


def days_between(start: date, end: date, *, reverse: bool = False) -> list[date]:
    """Every day of ``[start, end]``, newest first with ``reverse``."""
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return days[::-1] if reverse else days


def day_state(rows: list[BackfillDay], steps: list[str]) -> tuple[str, int]:
    """The bookkeeping state of one day over ``steps`` and its attempts so far."""
    attempts = max((r.attempts for r in rows), default=0)
    statuses = {r.status for r in rows}
    if not rows:
        return "missing", 0
    for state in ("running", "crashed", "failed"):
        if state in statuses:
            return state, attempts
    return ("completed" if len(rows) == len(steps) else "partial"), attempts


def choose(state: str, reprocess: Reprocess) -> tuple[bool, str]:
    """Whether to run a day in ``state`` under ``reprocess``, and why."""
    if state == "running":
        return False, "another live run is working on it"
    if reprocess == "all":
        return True, "--reprocess all"
    if state == "missing":
        return True, "never done"
    if state == "partial":
        return True, "some of its steps were never done"
    if state == "crashed":
        return True, "a run crashed before finishing it"
    if state == "failed":
        return (
            (True, "failed before")
            if reprocess == "failed"
            else (False, "failed before (--reprocess failed)")
        )
    return False, "done (--reprocess all redoes it)"


def plan_days(
    days: list[date],
    steps: list[str],
    rows: dict[tuple[date, str], BackfillDay],
    reprocess: Reprocess,
    lake: Lake | None = None,
) -> list[DayPlan]:
    """A :class:`DayPlan` per day, in the order of ``days``; ``lake`` adds what exists per table."""
    present: dict[str, set[date]] = {}
    if lake is not None:
        for step in steps:
            for table in STEP_TABLES.get(step, ()):
                present.setdefault(table, set(lake.partitions(table)))
    plans = []
    for day in days:
        mine = [rows[(day, s)] for s in steps if (day, s) in rows]
        state, attempts = day_state(mine, steps)
        run, why = choose(state, reprocess)
        exists = {table: day in found for table, found in present.items()}
        plans.append(DayPlan(day, state, run, why, attempts, exists))
    return plans
