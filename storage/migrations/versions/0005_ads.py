"""paid ads: the log of budget, bid and status changes sent to the ad platforms

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-29 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import aicmo.models.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "ad_changes",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", aicmo.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ad_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ad_changes_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ad_changes_object_id"), ["object_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("ad_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ad_changes_object_id"))
        batch_op.drop_index(batch_op.f("ix_ad_changes_at"))
    op.drop_table("ad_changes")
