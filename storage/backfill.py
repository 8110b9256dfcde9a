"""The backfill's bookkeeping (``backfill_days``): start, finish and read each day's steps."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicmo.models.backfill import BackfillDay, BackfillStatus
from aicmo.models.base import utcnow


def day_rows(
    session: Session, days: Iterable[date], steps: Iterable[str]
) -> dict[tuple[date, str], BackfillDay]:
    """The rows of ``days`` x ``steps`` that exist, by (day, step)."""
    wanted_days, wanted_steps = list(days), list(steps)
    if not wanted_days or not wanted_steps:
        return {}
    query = select(BackfillDay).where(
        BackfillDay.day.between(min(wanted_days), max(wanted_days)), BackfillDay.step.in_(wanted_steps)
    )
    return {(r.day, r.step): r for r in session.scalars(query) if r.day in set(wanted_days)}


def start_steps(
    session: Session, day: date, steps: Iterable[str], owner: dict[str, Any], flow_run_id: str | None
) -> None:
    """Mark ``steps`` of ``day`` running for ``owner`` (host and pid) and count the attempt."""
    existing = day_rows(session, [day], steps)
    now = utcnow()
    for step in steps:
        row = existing.get((day, step))
        if row is None:
            row = BackfillDay(day=day, step=step, attempts=0, owner={}, stats={})
            session.add(row)
        row.status = "running"
        row.attempts = (row.attempts or 0) + 1
        row.owner = owner
        row.flow_run_id = flow_run_id
        row.started_at = now
        row.finished_at = None
        row.error = None


def finish_step(
    session: Session,
    day: date,
    step: str,
    status: BackfillStatus,
    stats: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record how one step of ``day`` ended."""
    row = session.get(BackfillDay, (day, step))
    if row is None:
        raise LookupError(f"no backfill row for {day} {step}")
    row.status = status
    row.stats = stats or {}
    row.error = error
    row.finished_at = utcnow()


def crash_dead_steps(session: Session, host: str, is_alive: Callable[[int], bool]) -> list[tuple[date, str]]:
    """Mark ``running`` rows owned by a process of ``host`` that is gone as ``crashed``; returns them."""
    marked = []
    for row in session.scalars(select(BackfillDay).where(BackfillDay.status == "running")):
        pid = (row.owner or {}).get("pid")
        if (row.owner or {}).get("host") == host and isinstance(pid, int) and not is_alive(pid):
            row.status = "crashed"
            row.finished_at = utcnow()
            row.error = "the process ended without recording the step's end"
            marked.append((row.day, row.step))
    return marked


def mark_crashed(session: Session, keys: Iterable[tuple[date, str]], reason: str) -> None:
    """Mark rows whose run is known to have ended without recording it (a crashed worker) as crashed."""
    for key in keys:
        row = session.get(BackfillDay, key)
        if row is not None and row.status == "running":
            row.status = "crashed"
            row.finished_at = utcnow()
            row.error = reason


def finished_since(session: Session, days: Iterable[date], steps: Iterable[str], since: datetime) -> int:
    """How many of ``days`` have every one of ``steps`` finished (either way) after ``since``."""
    wanted = list(steps)
    done: dict[date, int] = {}
    for (day, _), row in day_rows(session, days, wanted).items():
        if row.finished_at is not None and row.finished_at >= since:
            done[day] = done.get(day, 0) + 1
    return sum(1 for n in done.values() if n == len(wanted))
