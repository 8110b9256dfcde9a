"""Contacts, companies, lifecycle history, consent, suppression and saved segments (phase 1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from aicmo.models.base import Base, CreatedAt, IdPk, UpdatedAt, utcnow

LifecycleStage = Literal[
    "subscriber", "lead", "mql", "sql", "opportunity", "customer", "evangelist", "churned"
]
LIFECYCLE_STAGES: tuple[LifecycleStage, ...] = get_args(LifecycleStage)
CHANNELS = ("email", "sms", "push", "webhook")
ConsentChannel = Literal["email", "sms", "push"]
ConsentStatus = Literal["pending", "confirmed", "withdrawn"]
# A contact's per-channel summary column reads ``none`` until the contact is first asked.
ConsentSummary = Literal["none", "pending", "confirmed", "withdrawn"]
SuppressionChannel = Literal["email", "sms", "push", "all"]
SuppressionReason = Literal["hard_bounce", "complaint", "unsubscribe", "sms_stop", "manual", "erased"]


class Company(Base):
    """A company, keyed by its web domain."""

    __tablename__ = "companies"

    id: Mapped[IdPk]
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(255))
    employees: Mapped[int | None] = mapped_column(Integer)
    country: Mapped[str | None] = mapped_column(String(64))
    is_free_mail: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(String(64))
    enriched_at: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]


class Contact(Base):
    """A person the team markets to, one per normalized email."""

    __tablename__ = "contacts"

    id: Mapped[IdPk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    company_name: Mapped[str | None] = mapped_column(String(255))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    city: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(default=list)
    source: Mapped[str | None] = mapped_column(String(64))

    lifecycle_stage: Mapped[LifecycleStage] = mapped_column(String(32), default="subscriber")
    lifecycle_changed_at: Mapped[datetime | None]

    # Consent and suppression summary; per-channel detail lives in ``consents``.
    email_consent: Mapped[ConsentSummary] = mapped_column(String(16), default="none")
    sms_consent: Mapped[ConsentSummary] = mapped_column(String(16), default="none")
    push_consent: Mapped[ConsentSummary] = mapped_column(String(16), default="none")
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)
    suppression_reason: Mapped[SuppressionReason | None] = mapped_column(String(32))

    # Enrichment: what each provider answered, with source and time.
    enrichment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enriched_at: Mapped[datetime | None]

    # Scores written back by analytics (phase 3).
    engagement_score: Mapped[float | None] = mapped_column(Float)
    historical_ltv: Mapped[float | None] = mapped_column(Float)
    predicted_ltv: Mapped[float | None] = mapped_column(Float)
    p_alive: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str | None] = mapped_column(String(16))
    tier_changed_at: Mapped[datetime | None]
    rfm_segment: Mapped[str | None] = mapped_column(String(32))
    scored_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]

    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]

    company: Mapped[Company | None] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_contacts_lifecycle_stage", "lifecycle_stage"),
        Index("ix_contacts_enriched_at", "enriched_at"),
        Index("ix_contacts_tier", "tier"),
    )


class ContactChange:
    """The shape every per-contact history table shares: whose value changed, when and why.

    A history table adds its own ``from_<value>``/``to_<value>`` pair (lifecycle stage, tier).
    """

    id: Mapped[IdPk]
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str | None] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LifecycleChange(ContactChange, Base):
    """One lifecycle stage change of a contact, so its history reads back in order."""

    __tablename__ = "lifecycle_changes"

    from_stage: Mapped[LifecycleStage | None] = mapped_column(String(32))
    to_stage: Mapped[LifecycleStage] = mapped_column(String(32))


class Consent(Base):
    """A contact's consent on one channel: status, source, time and consent-text version."""

    __tablename__ = "consents"

    id: Mapped[IdPk]
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[ConsentChannel] = mapped_column(String(16))
    status: Mapped[ConsentStatus] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(64))
    text_version: Mapped[str | None] = mapped_column(String(32))
    requested_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    confirmation_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    updated_at: Mapped[UpdatedAt]

    __table_args__ = (UniqueConstraint("contact_id", "channel", name="uq_consents_contact_channel"),)


class Suppression(Base):
    """A global suppression: an HMAC of the normalized address, never the address itself."""

    __tablename__ = "suppressions"

    id: Mapped[IdPk]
    address_hmac: Mapped[str] = mapped_column(String(64))
    channel: Mapped[SuppressionChannel] = mapped_column(String(16))
    reason: Mapped[SuppressionReason] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]

    __table_args__ = (UniqueConstraint("address_hmac", "channel", name="uq_suppressions_address_channel"),)


class Segment(Base):
    """A saved, declarative segment definition."""

    __tablename__ = "segments"

    id: Mapped[IdPk]
    name: Mapped[str] = mapped_column(String(128), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column()
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
