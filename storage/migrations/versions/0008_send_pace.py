"""send pace: each campaign's send rate per channel, shared by all its senders (GCRA state)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # as campaigns.id


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "send_pace",
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "channel"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("send_pace")
