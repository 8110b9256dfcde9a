"""What the analytics phase writes back to the store: tier history (phase 3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, IdPk, utcnow

TIERS = ("bronze", "silver", "gold", "platinum")


class TierChange(Base):
    """One tier change of a contact, written by the scoring flow."""

    __tablename__ = "tier_changes"

    id: Mapped[IdPk]
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    from_tier: Mapped[str | None] = mapped_column(String(16))
    to_tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
