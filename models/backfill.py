"""The backfill's own bookkeeping: one row per day partition and step, so a rerun knows what is missing.

Prefect does not retry a crashed flow run by itself, and a run killed with ``kill -9`` records
nothing; a row left ``running`` by a process that is gone is how the next backfill notices.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, utcnow

BackfillStatus = Literal["running", "completed", "failed", "crashed"]


class BackfillDay(Base):
    """The last attempt at one step of one day partition: its state, owner and Prefect run."""

    __tablename__ = "backfill_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    step: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[BackfillStatus] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    flow_run_id: Mapped[str | None] = mapped_column(String(36))
    owner: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
