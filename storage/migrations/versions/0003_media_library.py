"""media library: asset kinds, tags, libraries, owners, dHash; reviews, variants, suggestions

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import aicmo.models.base

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dhash", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="image", nullable=False))
        batch_op.add_column(sa.Column("frames", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tags", _JSON, server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column("library", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("owner", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=2048), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", aicmo.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_assets_library"), ["library"], unique=False)

    op.create_table(
        "asset_reviews",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("asset_id", _ID, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", aicmo.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("asset_reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_reviews_asset_id"), ["asset_id"], unique=False)

    op.create_table(
        "asset_variants",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("source_asset_id", _ID, nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("spec_key", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("mime_type", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", aicmo.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["source_asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_sha256", "spec_key", name="uq_asset_variant"),
    )
    with op.batch_alter_table("asset_variants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_asset_variants_source_asset_id"), ["source_asset_id"], unique=False
        )

    op.create_table(
        "asset_suggestions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("run_at", aicmo.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("asset_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("numbers", _JSON, nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("asset_suggestions", schema=None) as batch_op:
        batch_op.create_index("ix_asset_suggestions_run_at", ["run_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("asset_suggestions", schema=None) as batch_op:
        batch_op.drop_index("ix_asset_suggestions_run_at")
    op.drop_table("asset_suggestions")
    with op.batch_alter_table("asset_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_variants_source_asset_id"))
    op.drop_table("asset_variants")
    with op.batch_alter_table("asset_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_reviews_asset_id"))
    op.drop_table("asset_reviews")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assets_library"))
        for column in ("updated_at", "source", "owner", "library", "tags", "frames", "kind", "dhash"):
            batch_op.drop_column(column)
