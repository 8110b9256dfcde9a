"""Campaigns, the send ledger and contacts' push endpoints (phase 2).

The ledger (``outbox``) holds one row per (campaign, contact, channel) -- a social post, which goes
out once per campaign, has no contact -- under a unique, deterministic idempotency key. A sender
claims rows with a lease, hands them to a channel and marks each one: the row's ``state`` is the
guarantee that a message goes out at most once, and that none is forgotten.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicmo.models.base import Base, CreatedAt, IdPk, JsonType, UpdatedAt

# ``testing``: an experiment's test phase is sent and the decision is awaited (then ``sending`` again).
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "testing", "paused", "sent", "cancelled")
PUBLISH_CHANNELS = ("email", "sms", "push", "webpush", "social", "webhook")

# Ledger states. A row is *settled* when nothing more will be sent for it.
PENDING, CLAIMED, SENT, UNKNOWN = "pending", "claimed", "sent", "unknown"
FAILED_TRANSIENT, FAILED_PERMANENT, SKIPPED = "failed_transient", "failed_permanent", "skipped"
LEDGER_STATES = (PENDING, CLAIMED, SENT, UNKNOWN, FAILED_TRANSIENT, FAILED_PERMANENT, SKIPPED)
SETTLED_STATES = (SENT, UNKNOWN, FAILED_PERMANENT, SKIPPED)
SKIP_REASONS = (
    "no_consent",
    "suppressed",
    "frequency_cap",
    "no_address",
    "cancelled",
    "template_error",
    "holdout",
)


class Campaign(Base):
    """A campaign: its audience, a message per channel, UTM parameters, a schedule and a status.

    ``channel`` is the first of ``channels`` (campaigns imported from elsewhere, such as ads,
    have only that one); ``messages`` maps a channel to its template parts, ``audience`` is
    ``{"segment": NAME}`` or ``{"contact_ids": [...]}``.
    """

    __tablename__ = "campaigns"

    id: Mapped[IdPk]
    name: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    subject: Mapped[str | None] = mapped_column(String(255))
    body: Mapped[str | None] = mapped_column(Text)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    utm_campaign: Mapped[str | None] = mapped_column(String(255))
    budget: Mapped[float | None] = mapped_column(Float)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[CreatedAt]
    channels: Mapped[list[str]] = mapped_column(default=list)
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    messages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    asset_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    utm: Mapped[dict[str, Any]] = mapped_column(default=dict)
    send_at: Mapped[datetime | None]
    rate_limit_per_s: Mapped[float | None] = mapped_column(Float)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None]
    experiment: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class OutboxMessage(Base):
    """One row of the send ledger: a message of a campaign to a contact on a channel.

    ``claimed_by``/``lease_expires_at`` say who holds a claimed row and until when; ``handed_at``
    is set (and committed) just before the message goes to the channel, so a sender killed
    after that point leaves the row ``unknown`` rather than sending it twice.
    """

    __tablename__ = "outbox"

    id: Mapped[IdPk]
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=PENDING)
    reason: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    handed_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    variant_id: Mapped[int | None] = mapped_column(Integer)
    evented_at: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id", "channel", name="uq_outbox_campaign_contact_channel"),
        Index("ix_outbox_campaign_state", "campaign_id", "state"),
        Index("ix_outbox_contact_channel_sent", "contact_id", "channel", "sent_at"),
        Index("ix_outbox_campaign_variant", "campaign_id", "variant_id"),
    )


class PushEndpoint(Base):
    """Where a contact receives push: an FCM registration token or a web push subscription.

    An endpoint the push service reports gone (FCM ``UNREGISTERED``, web push 404/410) is deleted.
    """

    __tablename__ = "push_endpoints"

    id: Mapped[IdPk]
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # fcm | webpush
    token: Mapped[str] = mapped_column(String(1024))  # FCM token, or the web push endpoint URL
    p256dh: Mapped[str | None] = mapped_column(String(255))
    auth: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("kind", "token", name="uq_push_endpoints_kind_token"),)


class SendPace(Base):
    """Where a campaign's send rate on one channel stands, shared by every sender of the campaign.

    ``tat`` is the *theoretical arrival time* of the generic cell rate algorithm (GCRA, a token
    bucket kept as one number): the epoch second at which the next message would be due if
    messages went out at exactly the campaign's rate. Senders reserve slots by moving it forward
    in one atomic statement, so concurrent runs of one campaign, in any process, share one rate.
    """

    __tablename__ = "send_pace"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)
