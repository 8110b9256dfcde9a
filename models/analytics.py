"""What the analytics phase writes back to the store: tier history (phase 3)."""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base
from aicmo.models.crm import ContactChange

Tier = Literal["bronze", "silver", "gold", "platinum"]
TIERS: tuple[Tier, ...] = get_args(Tier)


class TierChange(ContactChange, Base):
    """One tier change of a contact, written by the scoring flow."""

    __tablename__ = "tier_changes"

    from_tier: Mapped[Tier | None] = mapped_column(String(16))
    to_tier: Mapped[Tier] = mapped_column(String(16))
