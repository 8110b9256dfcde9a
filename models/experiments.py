"""Experiments (A/B/n tests and holdouts) of campaigns: the plan, the state of the test, the decision.

One row per campaign that carries an experiment. ``status`` is ``testing`` while the test phase's
sample is sent and measured, then ``decided`` once a winner (or the default, at the deadline) is
chosen and the rest of the audience is planned with it. ``min_p`` keeps each challenger's running
minimum of 1/Lambda: the always-valid p-value, which must never go back up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, CreatedAt, IdPk, JsonType

EXPERIMENT_STATUSES = ("testing", "decided")


class Experiment(Base):
    """A campaign's experiment: variants, metric, planned sample, deadline, running p-values, decision."""

    __tablename__ = "experiments"

    id: Mapped[IdPk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(16))
    variants: Mapped[list[str]] = mapped_column(default=list)
    per_variant: Mapped[int] = mapped_column(Integer)
    alpha: Mapped[float] = mapped_column(Float)
    mde: Mapped[float] = mapped_column(Float)
    holdout: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="testing")
    min_p: Mapped[list[float]] = mapped_column(JsonType, default=list)
    looks: Mapped[int] = mapped_column(Integer, default=0)
    winner: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[CreatedAt]
