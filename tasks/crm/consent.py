"""Per-channel consent with double opt-in.

A contact is asked once per channel: :func:`request_opt_in` creates a *pending* consent with a
confirmation token (the confirmation message is publishing's job); :func:`confirm` turns it
*confirmed*. Pending contacts get no marketing; a confirmed contact is never asked again;
:func:`withdraw` records the withdrawal and suppresses the address. Each consent keeps its source,
times and the version of the consent text the person saw. ``contacts.<channel>_consent`` mirrors
the status for quick filtering.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Final, get_args

from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.crm import Consent, ConsentChannel
from aicmo.storage import crm as store
from aicmo.tasks.crm.emails import address_hmac
from aicmo.tasks.crm.suppression import hmac_key, suppress, suppressed_contact_ids

CONSENT_CHANNELS: tuple[ConsentChannel, ...] = get_args(ConsentChannel)
PENDING: Final = "pending"
CONFIRMED: Final = "confirmed"
WITHDRAWN: Final = "withdrawn"


def _check_channel(channel: str) -> None:
    if channel not in CONSENT_CHANNELS:
        raise InputError(f"unknown consent channel {channel!r}; known: {', '.join(CONSENT_CHANNELS)}")


def request_opt_in(
    session: Session,
    contact_ids: Sequence[int],
    channel: str,
    *,
    source: str,
    text_version: str,
    at: datetime | None = None,
) -> dict[int, str]:
    """Ask a batch of contacts for consent on ``channel``; returns ``{contact_id: token}`` of those asked.

    Contacts already pending or confirmed are not asked again; a withdrawn contact that signs up
    again gets a new pending consent.
    """
    _check_channel(channel)
    when = at or utcnow()
    existing = store.consents_on_channel(session, contact_ids, channel)
    tokens: dict[int, str] = {}
    for cid in dict.fromkeys(contact_ids):
        consent = existing.get(cid)
        if consent is not None and consent.status in (PENDING, CONFIRMED):
            continue
        token = secrets.token_urlsafe(24)
        if consent is None:
            consent = store.new_consent(session, cid, channel)
        consent.status = PENDING
        consent.source = source
        consent.text_version = text_version
        consent.requested_at = when
        consent.confirmed_at = None
        consent.confirmation_token = token
        tokens[cid] = token
    session.flush()
    store.set_consent_summary(session, list(tokens), channel, PENDING)
    return tokens


def confirm(session: Session, token: str, *, at: datetime | None = None) -> int:
    """Confirm the consent that ``token`` was issued for; returns its contact id.

    A consent confirmed again is left as it was. An earlier unsubscribe suppression of the same
    address on that channel is lifted, since the person opted in anew.
    """
    consent = store.consent_by_token(session, token)
    if consent is None:
        raise InputError("unknown or expired confirmation token")
    if consent.status == CONFIRMED:
        return consent.contact_id
    if consent.status != PENDING:
        raise InputError(f"consent on {consent.channel} was {consent.status}; it cannot be confirmed")
    consent.status = CONFIRMED
    consent.confirmed_at = at or utcnow()
    session.flush()
    store.set_consent_summary(session, [consent.contact_id], consent.channel, CONFIRMED)
    contact = store.contact_by_id(session, consent.contact_id)
    if contact is not None:
        address = contact.phone if consent.channel == "sms" else contact.email
        if address:
            reasons = ("sms_stop",) if consent.channel == "sms" else ("unsubscribe",)
            store.lift_suppressions(session, address_hmac(address, hmac_key()), consent.channel, reasons)
    return consent.contact_id


def withdraw(
    session: Session, contact_id: int, channel: str, *, source: str, at: datetime | None = None
) -> None:
    """Record that a contact withdrew consent on ``channel`` and suppress the address there."""
    _check_channel(channel)
    contact = store.contact_by_id(session, contact_id)
    if contact is None:
        raise InputError(f"no contact with id {contact_id}")
    consent = store.consent_of(session, contact_id, channel)
    if consent is None:
        consent = store.new_consent(session, contact_id, channel)
    consent.status = WITHDRAWN
    consent.source = source
    consent.confirmation_token = None
    consent.updated_at = at or utcnow()
    session.flush()
    store.set_consent_summary(session, [contact_id], channel, WITHDRAWN)
    if channel == "sms":
        if contact.phone:
            suppress(session, contact.phone, "sms", "sms_stop", source=source)
    else:
        suppress(session, contact.email, channel, "unsubscribe", source=source)


def status(session: Session, contact_id: int) -> dict[str, Consent]:
    """A contact's consents by channel."""
    return {c.channel: c for c in store.consents_of(session, contact_id)}


def marketable_contact_ids(session: Session, contact_ids: Sequence[int], channel: str) -> list[int]:
    """The contacts of a batch that may get marketing on ``channel``: confirmed and not suppressed."""
    _check_channel(channel)
    confirmed = store.contact_ids_with_consent(session, contact_ids, channel, CONFIRMED)
    blocked = suppressed_contact_ids(session, confirmed, channel)
    order = {cid: i for i, cid in enumerate(contact_ids)}
    return sorted((cid for cid in set(confirmed) if cid not in blocked), key=order.__getitem__)
