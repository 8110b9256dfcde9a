"""Postmark webhooks: HTTP basic auth on the webhook URL, one JSON record per request.

Postmark has no payload signature; the webhook URL carries basic-auth credentials
(``https://user:pass@host/webhooks/postmark``) that Postmark sends as an ``Authorization``
header. Records: ``Delivery``, ``Bounce``, ``SpamComplaint``, ``Open``, ``Click``,
``SubscriptionChange``; ``Metadata`` carries the campaign and contact.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from aicmo.tasks.tracking.events import TrackedEvent
from aicmo.tasks.tracking.machine import agent_class
from aicmo.tasks.tracking.webhooks.base import (
    Rejected,
    WebhookRequest,
    email_event,
    ids_from,
    iso,
    json_body,
    require_json,
    scanner_flag,
)

PROVIDER = "postmark"
HARD_BOUNCE_TYPES = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification"}
TIME_FIELD = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}


def verify(request: WebhookRequest, username: str | None, password: str | None) -> None:
    """Check the basic-auth credentials."""
    if not username or not password:
        raise Rejected("not_configured", 404)
    require_json(request)
    header = request.header("Authorization")
    if not header or not header.lower().startswith("basic "):
        raise Rejected("missing_signature", 401)
    try:
        given = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("bad_signature", 401) from None
    if not hmac.compare_digest(given, f"{username}:{password}".encode()):
        raise Rejected("bad_signature", 401)


def _kind(record: dict[str, Any]) -> tuple[str | None, bool | None]:
    record_type = record.get("RecordType")
    if record_type == "Delivery":
        return "deliver", None
    if record_type == "Bounce":
        return "bounce", record.get("Type") in HARD_BOUNCE_TYPES
    if record_type == "SpamComplaint":
        return "complaint", None
    if record_type == "Open":
        return "open", None
    if record_type == "Click":
        return "click", None
    if record_type == "SubscriptionChange":
        return ("unsubscribe", None) if record.get("SuppressSending") else (None, None)
    return None, None


def parse_event(record: Any) -> list[TrackedEvent]:
    """One Postmark record -> zero or one tracked event."""
    if not isinstance(record, dict) or not isinstance(record.get("RecordType"), str):
        raise Rejected("malformed_event", 400, "a Postmark record needs 'RecordType'")
    kind, hard = _kind(record)
    if kind is None:
        return []
    time_field = TIME_FIELD[record["RecordType"]]
    message_id = str(record.get("MessageID") or "")
    # Bounces and complaints have an ID; deliveries are one per message; opens/clicks per time.
    if record.get("ID") is not None:
        provider_id = f"{record['RecordType']}:{record['ID']}"
    elif message_id:
        provider_id = f"{record['RecordType']}:{message_id}:{record.get(time_field)}"
    else:
        provider_id = None
    campaign_id, contact_id = ids_from(record.get("Metadata"))
    user_agent = record.get("UserAgent") if isinstance(record.get("UserAgent"), str) else None
    cls = agent_class(user_agent) if kind in ("open", "click") else None
    address = record.get("Email") or record.get("Recipient")
    return [
        email_event(
            PROVIDER,
            kind,
            iso(record.get(time_field)),
            provider_id=provider_id,
            content=record,
            campaign_id=campaign_id,
            contact_id=contact_id,
            agent=cls,
            is_machine=scanner_flag(cls),
            url=record.get("OriginalLink"),
            address=address,
            hard=hard,
        )
    ]


def parse(body: bytes) -> list[TrackedEvent]:
    """A webhook body (one record) -> tracked events."""
    return parse_event(json_body(body))
