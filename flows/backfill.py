"""Backfill: recompute analytics over a range of past days, a chunk of days at a time.

Every chunk is a full recomputation of those partitions (not incremental), so a backfill repairs
history after a fix or a late import; scores are refreshed once at the end.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast
from uuid import UUID

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from aicmo.flows.aggregate import aggregate
from aicmo.flows.run_log import logged_run
from aicmo.flows.score import score


def chunks(start: date, end: date, days: int) -> list[tuple[date, date]]:
    """``[start, end]`` cut into consecutive inclusive ranges of at most ``days`` days."""
    if end < start:
        raise ValueError(f"backfill end {end} is before start {start}")
    out = []
    cursor = start
    while cursor <= end:
        stop = min(end, cursor + timedelta(days=days - 1))
        out.append((cursor, stop))
        cursor = stop + timedelta(days=1)
    return out


FLOW_NAME = "backfill"


@flow(name=FLOW_NAME)
def backfill(start: date, end: date, chunk_days: int = 7, rescore: bool = True) -> dict[str, Any]:
    """Recompute KPIs, attribution and trends for every day in ``[start, end]``, then rescore."""
    ranges = chunks(start, end, chunk_days)
    progress_id = cast(UUID, create_progress_artifact(progress=0.0, description=f"backfill {start}..{end}"))
    with logged_run(FLOW_NAME, {"start": start, "end": end, "chunk_days": chunk_days}) as stats:
        stats["chunks"] = []
        for done, (lo, hi) in enumerate(ranges, start=1):
            stats["chunks"].append(
                {"start": str(lo), "end": str(hi), **aggregate(start=lo, end=hi, full=True)}
            )
            update_progress_artifact(progress_id, progress=100.0 * done / len(ranges))
        if rescore:
            stats["score"] = score(as_of=end)
    return stats
