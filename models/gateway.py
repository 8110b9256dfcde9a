"""The provider gateway's result cache (phase 0)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, JsonType, utcnow


class ProviderCacheEntry(Base):
    """A cached provider answer (or a cached 'not found') for one capability and key."""

    __tablename__ = "provider_cache"

    capability: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    provider: Mapped[str | None] = mapped_column(String(64))
    found: Mapped[bool] = mapped_column(Boolean)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
