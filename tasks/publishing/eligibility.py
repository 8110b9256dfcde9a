"""Who may get a message right now: the check a claim runs inside its own transaction.

A claimed row is skipped, with a reason, when the contact has no confirmed consent on the
channel (``no_consent``), the address is on the suppression list (``suppressed``), the contact
already got ``frequency_cap`` marketing messages on the channel within the rolling window
(``frequency_cap``), or there is nowhere to send it (``no_address``: no valid E.164 phone, no
device token, no web push subscription). Checked at claim time, so an unsubscribe or a new
suppression mid-campaign takes effect on the very next batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy.orm import Session

from aicmo.models.base import utcnow
from aicmo.settings import PublishingSettings
from aicmo.storage.publishing import EligibilityCheck, LedgerRow, push_endpoints, recent_sends, recipients
from aicmo.tasks.crm.consent import marketable_contact_ids
from aicmo.tasks.crm.suppression import suppressed_contact_ids

CONSENT_CHANNEL = {"email": "email", "sms": "sms", "push": "push", "webpush": "push"}
CAPPED_CHANNELS = ("email", "sms", "push", "webpush")


def e164(phone: str | None, default_region: str | None = None) -> str | None:
    """The phone number in E.164 (``+14155550100``), or None when it is not a valid number."""
    if not phone:
        return None
    try:
        parsed = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _with_address(session: Session, channel: str, contact_ids: Sequence[int]) -> set[int]:
    if channel == "sms":
        return {
            cid for cid, r in recipients(session, contact_ids).items() if e164(r.phone, r.country or None)
        }
    if channel == "push":
        return set(push_endpoints(session, contact_ids, "fcm"))
    if channel == "webpush":
        return set(push_endpoints(session, contact_ids, "webpush"))
    return set(contact_ids)


def eligibility_check(settings: PublishingSettings, *, now: datetime | None = None) -> EligibilityCheck:
    """The claim-time check for a run (consent, suppression, address, frequency cap)."""

    def check(session: Session, rows: list[LedgerRow]) -> dict[int, str]:
        skipped: dict[int, str] = {}
        by_channel: dict[str, list[LedgerRow]] = {}
        for row in rows:
            if row.contact_id is not None:
                by_channel.setdefault(row.channel, []).append(row)
        moment = now or utcnow()
        for channel, group in by_channel.items():
            ids = [r.contact_id for r in group if r.contact_id is not None]
            blocked = suppressed_contact_ids(
                session, ids, channel if channel in CONSENT_CHANNEL.values() else "all"
            )
            consented = (
                set(marketable_contact_ids(session, ids, CONSENT_CHANNEL[channel]))
                if channel in CONSENT_CHANNEL
                else set(ids)
            )
            reachable = _with_address(session, channel, ids)
            capped: set[int] = set()
            if settings.frequency_cap > 0 and channel in CAPPED_CHANNELS:
                since = moment - timedelta(hours=settings.frequency_window_h)
                recent = recent_sends(session, ids, channel, since)
                capped = {cid for cid, n in recent.items() if n >= settings.frequency_cap}
            for row in group:
                cid = row.contact_id
                assert cid is not None
                if cid in blocked:
                    skipped[row.id] = "suppressed"
                elif cid not in consented:
                    skipped[row.id] = "no_consent"
                elif cid not in reachable:
                    skipped[row.id] = "no_address"
                elif cid in capped:
                    skipped[row.id] = "frequency_cap"
        return skipped

    return check
