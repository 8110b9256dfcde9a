"""publishing: multi-channel campaigns, the send ledger, push endpoints

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-29 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import aicmo.models.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TS = aicmo.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    """Add the multi-channel campaign columns, replace the (unused) outbox with the send ledger."""
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channels", _JSON, nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("audience", _JSON, nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("messages", _JSON, nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("asset_ids", _JSON, nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("utm", _JSON, nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("send_at", _TS, nullable=True))
        batch_op.add_column(sa.Column("rate_limit_per_s", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status_changed_at", _TS, nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status")
    op.drop_table("outbox")
    op.create_table(
        "outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("lease_expires_at", _TS, nullable=True),
        sa.Column("handed_at", _TS, nullable=True),
        sa.Column("next_attempt_at", _TS, nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("evented_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", "channel", name="uq_outbox_campaign_contact_channel"
        ),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_campaign_state", ["campaign_id", "state"], unique=False)
        batch_op.create_index(
            "ix_outbox_contact_channel_sent", ["contact_id", "channel", "sent_at"], unique=False
        )

    op.create_table(
        "push_endpoints",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=1024), nullable=False),
        sa.Column("p256dh", sa.String(length=255), nullable=True),
        sa.Column("auth", sa.String(length=64), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "token", name="uq_push_endpoints_kind_token"),
    )
    with op.batch_alter_table("push_endpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_endpoints_contact_id"), ["contact_id"], unique=False)


def downgrade() -> None:
    """Revert this revision (the ledger's rows are lost; the old outbox comes back empty)."""
    with op.batch_alter_table("push_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_endpoints_contact_id"))
    op.drop_table("push_endpoints")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_contact_channel_sent")
        batch_op.drop_index("ix_outbox_campaign_state")
    op.drop_table("outbox")
    op.create_table(
        "outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "campaign_id", "contact_id", "channel", name="uq_outbox_campaign_contact_channel"
        ),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status", ["status"], unique=False)
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for column in (
            "status_changed_at",
            "status_reason",
            "rate_limit_per_s",
            "send_at",
            "utm",
            "asset_ids",
            "messages",
            "audience",
            "channels",
        ):
            batch_op.drop_column(column)
