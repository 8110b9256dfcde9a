"""experiments: A/B/n tests and holdouts of campaigns (plan, running p-values, decision)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import aicmo.models.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TS = aicmo.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    """Add the experiments table and the campaign's experiment (the ledger's ``variant_id`` came with 0004)."""
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment", _JSON, nullable=True))
    op.create_table(
        "experiments",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("variants", _JSON, nullable=False),
        sa.Column("per_variant", sa.Integer(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("mde", sa.Float(), nullable=False),
        sa.Column("holdout", sa.Float(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("deadline_at", _TS, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("min_p", _JSON, nullable=False),
        sa.Column("looks", sa.Integer(), nullable=False),
        sa.Column("winner", sa.Integer(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("summary", _JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_campaign_variant", ["campaign_id", "variant_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_campaign_variant")
    op.drop_table("experiments")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("experiment")
