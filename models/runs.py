"""Run bookkeeping shared by every phase: flow runs, lake partition state, audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Date,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, IdPk, utcnow

RunStatus = Literal["running", "completed", "failed", "crashed"]


class FlowRunRecord(Base):
    """Bookkeeping of a pipeline run: what it was asked, what it did."""

    __tablename__ = "flow_runs"

    id: Mapped[IdPk]
    flow_name: Mapped[str] = mapped_column(String(128), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[RunStatus] = mapped_column(String(16), default="running")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LakePartitionState(Base):
    """When each lake partition was last written, so incremental jobs recompute only what changed."""

    __tablename__ = "lake_partitions"

    table_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    dt: Mapped[date] = mapped_column(Date, primary_key=True)
    rows: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRecord(Base):
    """An audit entry without personal data (erasures, imports, manual changes)."""

    __tablename__ = "audit_log"

    id: Mapped[IdPk]
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_hmac: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
