"""Unsubscribes, complaints and hard bounces -> consent and suppression in the store.

Each change goes through the phase 1 functions (:func:`aicmo.tasks.crm.consent.withdraw`,
:func:`aicmo.tasks.crm.suppression.suppress`), so the consent keeps its source and time and the
suppression list its reason. Applying is idempotent: a consent already withdrawn and an address
already suppressed are left as they are, so the request handler applies an event at once and the
flusher applies it again after a crash without writing a second history entry.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.storage.crm import contact_ids_by_email
from aicmo.storage.db import transaction
from aicmo.storage.tracking import contact_addresses
from aicmo.tasks.crm import consent as consent_ops
from aicmo.tasks.crm.emails import normalize_email
from aicmo.tasks.crm.suppression import is_suppressed, suppress
from aicmo.tasks.tracking.events import TrackedEvent

SUPPRESSION_REASON = {"unsubscribe": "unsubscribe", "complaint": "complaint", "bounce": "hard_bounce"}


def _withdraw_once(session: Session, contact_id: int, channel: str, source: str) -> bool:
    current = consent_ops.status(session, contact_id).get(channel)
    if current is not None and current.status == consent_ops.WITHDRAWN:
        return False
    consent_ops.withdraw(session, contact_id, channel, source=source)
    return True


def _suppress_once(session: Session, address: str, channel: str, reason: str, source: str) -> bool:
    try:
        if is_suppressed(session, address, channel) is not None:
            return False
        return suppress(session, address, channel, reason, source=source)
    except InputError:
        return False  # an address that cannot be normalized cannot be suppressed either


def apply_event(session: Session, event: TrackedEvent) -> bool:
    """Apply one event's consent change; returns whether anything changed."""
    if not event.changes_consent:
        return False
    source = f"{event.provider}:{event.type}"[:64]
    channel = "sms" if event.channel == "sms" else "email" if event.channel != "push" else "push"
    contact_id = event.contact_id
    address = event.address
    known = contact_addresses(session, [contact_id]) if contact_id is not None else {}
    if contact_id is not None and contact_id not in known:
        contact_id = None
    if contact_id is None and address and channel != "sms":
        try:
            contact_id = contact_ids_by_email(session, [normalize_email(address)]).get(
                normalize_email(address)
            )
        except InputError:
            contact_id = None
        if contact_id is not None:
            known = contact_addresses(session, [contact_id])
    if contact_id is not None:
        email, phone = known[contact_id]
        address = address or (phone if channel == "sms" else email)
    changed = False
    if address:  # first, so a complaint is recorded as one (withdraw would suppress as 'unsubscribe')
        reason = (
            "sms_stop" if channel == "sms" and event.type == "unsubscribe" else SUPPRESSION_REASON[event.type]
        )
        changed = _suppress_once(session, address, channel, reason, source)
    if event.type in ("unsubscribe", "complaint") and contact_id is not None:
        changed = _withdraw_once(session, contact_id, channel, source) or changed
    return changed


def apply_events(engine: Engine, events: Iterable[TrackedEvent]) -> int:
    """Apply a batch's consent changes in one transaction; returns how many changed something."""
    relevant = [e for e in events if e.changes_consent]
    if not relevant:
        return 0
    with transaction(engine) as session:
        return sum(apply_event(session, e) for e in relevant)
