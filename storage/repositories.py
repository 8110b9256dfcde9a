"""Repositories over the SQL store: the queries the phases share, written once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicmo.models.base import utcnow
from aicmo.models.crm import Contact
from aicmo.models.publishing import Campaign
from aicmo.models.runs import FlowRunRecord, LakePartitionState
from aicmo.storage.upsert import bulk_upsert

CONTACT_KEY = ("email",)


def upsert_contacts(
    session: Session,
    rows: Sequence[dict[str, Any]],
    update_columns: Sequence[str] | None = None,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Insert or update contacts by normalized email; returns rows sent.

    ``created_at``/``updated_at`` are filled in; on conflict only ``update_columns`` (default:
    every column given except the email) change, and ``updated_at`` moves.
    """
    now = utcnow()
    prepared = [{**row, "created_at": row.get("created_at", now), "updated_at": now} for row in rows]
    if update_columns is None and prepared:
        update_columns = [c for c in prepared[0] if c not in ("email", "created_at")]
    elif update_columns is not None:
        update_columns = [*update_columns, "updated_at"]
    return bulk_upsert(
        session,
        Contact.__table__,
        prepared,
        CONTACT_KEY,
        update_columns,
        on_chunk=on_chunk,
    )


def contact_ids_by_email(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """Map normalized emails to contact ids (missing emails are left out)."""
    wanted = list(emails)
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 10_000):
        chunk = wanted[start : start + 10_000]
        found.update(
            (e, i)
            for e, i in session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(chunk)))
        )
    return found


def upsert_campaigns(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert or update campaigns by name; returns ``{name: id}``."""
    bulk_upsert(session, Campaign.__table__, rows, ("name",))
    names = [r["name"] for r in rows]
    return {
        n: i for n, i in session.execute(select(Campaign.name, Campaign.id).where(Campaign.name.in_(names)))
    }


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


def finish_run(session: Session, run_id: int, status: str, stats: dict[str, Any]) -> None:
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
