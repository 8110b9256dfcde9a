"""The paid-ads phase's store table: the log of every change sent (or, in a dry run, not sent) to an ad platform."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, IdPk, utcnow


class AdChange(Base):
    """One budget, bid or status change of an ad set or campaign budget: what was asked and what the platform said."""

    __tablename__ = "ad_changes"

    id: Mapped[IdPk]
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    platform: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(
        String(255), index=True
    )  # ad set id, or a campaign budget's resource name
    action: Mapped[str] = mapped_column(String(32))  # set_budget | set_bid | pause | resume
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the values asked for (minor units as sent)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # applied | failed | dry_run
    http_status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column()  # the platform's answer, as returned
    error: Mapped[str | None] = mapped_column(Text)
