"""Creative assets and where they are used (phase 4)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, CreatedAt, IdPk


class Asset(Base):
    """A creative asset, identified by its content hash."""

    __tablename__ = "assets"

    id: Mapped[IdPk]
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    phash: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1024))
    mime_type: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft|in_review|approved|rejected
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    created_at: Mapped[CreatedAt]


class AssetUsage(Base):
    """An asset used by a campaign on a channel."""

    __tablename__ = "asset_usage"

    id: Mapped[IdPk]
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("asset_id", "campaign_id", "channel", name="uq_asset_usage"),)
