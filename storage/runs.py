"""Run bookkeeping shared by every phase: the run log, lake partition state, the audit log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicmo.models.base import utcnow
from aicmo.models.runs import AuditRecord, FlowRunRecord, LakePartitionState, RunStatus
from aicmo.storage.upsert import bulk_upsert


def record_partitions(session: Session, table: str, written: dict[date, int]) -> None:
    """Remember when each lake partition was written (for incremental recomputation)."""
    now = utcnow()
    rows = [{"table_name": table, "dt": dt, "rows": n, "written_at": now} for dt, n in written.items()]
    bulk_upsert(session, LakePartitionState.__table__, rows, ("table_name", "dt"))


def partitions_written_since(session: Session, table: str, since: datetime | None) -> list[date]:
    """Days of ``table`` written after ``since`` (all of them when ``since`` is None)."""
    query = select(LakePartitionState.dt).where(LakePartitionState.table_name == table)
    if since is not None:
        query = query.where(LakePartitionState.written_at > since)
    return sorted(session.scalars(query))


def start_run(
    session: Session, flow_name: str, parameters: dict[str, Any], owner: dict[str, Any] | None = None
) -> int:
    """Record that a pipeline run started (and by which host and process); returns its id."""
    stats = {"owner": owner} if owner else {}
    record = FlowRunRecord(flow_name=flow_name, parameters=parameters, status="running", stats=stats)
    session.add(record)
    session.flush()
    return record.id


def crash_dead_runs(session: Session, host: str, is_alive: Callable[[int], bool]) -> list[int]:
    """Mark ``running`` rows started on ``host`` by a process that no longer exists as ``crashed``.

    A run killed with SIGKILL never records its end; the next run on the same host notices.
    Returns the ids it marked.
    """
    marked: list[int] = []
    for record in session.scalars(select(FlowRunRecord).where(FlowRunRecord.status == "running")):
        owner = record.stats.get("owner") or {}
        pid = owner.get("pid")
        if owner.get("host") == host and isinstance(pid, int) and not is_alive(pid):
            record.status = "crashed"
            record.finished_at = utcnow()
            record.stats = {**record.stats, "error": "process ended without recording the run's end"}
            marked.append(record.id)
    return marked


def finish_run(session: Session, run_id: int, status: RunStatus, stats: dict[str, Any]) -> None:
    """Record how a pipeline run ended and what it did."""
    record = session.get(FlowRunRecord, run_id)
    if record is None:
        raise LookupError(f"no flow run record {run_id}")
    record.status = status
    owner = record.stats.get("owner")
    record.stats = {**stats, "owner": owner} if owner else stats
    record.finished_at = utcnow()


def last_successful_run(session: Session, flow_name: str) -> FlowRunRecord | None:
    """The newest run of ``flow_name`` that completed."""
    return session.scalars(
        select(FlowRunRecord)
        .where(FlowRunRecord.flow_name == flow_name, FlowRunRecord.status == "completed")
        .order_by(FlowRunRecord.started_at.desc())
        .limit(1)
    ).first()


def audit(session: Session, action: str, details: dict[str, Any], *, subject_hmac: str | None = None) -> None:
    """Append an audit record (counts and keyed hashes only, never personal data)."""
    session.add(AuditRecord(action=action, subject_hmac=subject_hmac, details=details))
