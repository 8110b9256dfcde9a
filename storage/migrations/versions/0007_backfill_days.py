"""backfill bookkeeping: the state of each day partition and step, so a rerun resumes a crashed one

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import aicmo.models.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "backfill_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=36), nullable=True),
        sa.Column("owner", JSON, nullable=False),
        sa.Column("started_at", aicmo.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", aicmo.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stats", JSON, nullable=False),
        sa.PrimaryKeyConstraint("day", "step"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("backfill_days")
