"""Creative assets (phase 4): the library, where assets are used, reviews, variants and suggestions.

An asset is identified by the SHA-256 of its bytes; the bytes live in a content-addressed store
(``storage/media.py``) and ``path`` is where. ``phash``/``dhash`` are 64-bit perceptual hashes
as 16 hex digits (images only). ``status`` follows the approval workflow
draft -> in_review -> approved | rejected -> archived; only ``approved`` assets attach to a campaign.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, CreatedAt, IdPk, Str16, Str64, utcnow

ASSET_STATUSES = ("draft", "in_review", "approved", "rejected", "archived")
ASSET_KINDS = ("image", "animated_gif", "video", "document")


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
    status: Mapped[str] = mapped_column(String(16), default="draft")  # see ASSET_STATUSES
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    created_at: Mapped[CreatedAt]
    # phase 4 library columns
    dhash: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="image", server_default="image")
    frames: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(default=list, server_default=text("'[]'"))
    library: Mapped[str | None] = mapped_column(String(255), index=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(2048))  # the file or URL it was added from
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class AssetUsage(Base):
    """An asset used by a campaign on a channel."""

    __tablename__ = "asset_usage"

    id: Mapped[IdPk]
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("asset_id", "campaign_id", "channel", name="uq_asset_usage"),)


class AssetReview(Base):
    """The approval audit log: who moved an asset from one status to another, when, and why."""

    __tablename__ = "asset_reviews"

    id: Mapped[IdPk]
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    action: Mapped[Str16]
    actor: Mapped[str] = mapped_column(String(255))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[Str16]
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AssetVariant(Base):
    """A rendition of an asset (thumbnail, responsive width, format), cached by source hash + spec."""

    __tablename__ = "asset_variants"

    id: Mapped[IdPk]
    source_asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    source_sha256: Mapped[Str64]
    spec_key: Mapped[Str64]
    channel: Mapped[str | None] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(1024))
    mime_type: Mapped[Str64]
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("source_sha256", "spec_key", name="uq_asset_variant"),)


class AssetSuggestion(Base):
    """One suggestion of a run (retire, promote, fatigue, consolidate, spec misfit) with its numbers."""

    __tablename__ = "asset_suggestions"

    id: Mapped[IdPk]
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    kind: Mapped[Str16]
    channel: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    numbers: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_asset_suggestions_run_at", "run_at"),)
