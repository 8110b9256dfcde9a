"""A Standard Webhooks receiver (``webhook-id``/``-timestamp``/``-signature``), e.g. Resend's email events.

Verification is the ``standardwebhooks`` reference library's (HMAC-SHA256 over
``id.timestamp.body`` with the ``whsec_`` secret, five-minute tolerance); it beats a hand-written
copy because the scheme's edge cases (several signatures, versions, secret encodings) are its
job. The payload is ``{"type": "email.delivered", "created_at": ..., "data": {...}}``; the
``webhook-id`` is the event id, so retries of one message land once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from aicmo.tasks.tracking.events import TrackedEvent
from aicmo.tasks.tracking.machine import agent_class
from aicmo.tasks.tracking.webhooks.base import (
    Rejected,
    WebhookRequest,
    email_event,
    ids_from,
    iso,
    json_body,
    obj,
    require_json,
    scanner_flag,
)

PROVIDER = "standard"
TYPES = {
    "email.sent": "send",
    "email.delivered": "deliver",
    "email.opened": "open",
    "email.clicked": "click",
    "email.bounced": "bounce",
    "email.complained": "complaint",
    "email.unsubscribed": "unsubscribe",
}


def verify(request: WebhookRequest, secret: str | None) -> Any:
    """Check the signature and timestamp; returns the parsed payload."""
    if not secret:
        raise Rejected("not_configured", 404)
    require_json(request)
    headers = {
        k: request.headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    if not all(headers.values()):
        raise Rejected("missing_signature", 401)
    try:
        Webhook(secret).verify(request.body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        text = str(exc).lower()
        raise Rejected(
            "stale_timestamp" if "too old" in text or "too new" in text else "bad_signature", 401
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise Rejected("bad_signature", 401) from None
    return json_body(request.body)


def parse_event(payload: Any, message_id: str | None, received_at: datetime) -> list[TrackedEvent]:
    """One Standard Webhooks payload -> zero or one tracked event."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise Rejected("malformed_event", 400, "a Standard Webhooks payload needs 'type'")
    kind = TYPES.get(payload["type"])
    if kind is None:
        return []
    data = obj(payload.get("data"))
    campaign_id, contact_id = ids_from(data.get("tags"))
    click = obj(data.get("click"))
    bounce = obj(data.get("bounce"))
    to = data.get("to")
    address = to[0] if isinstance(to, list) and to and isinstance(to[0], str) else None
    user_agent = click.get("userAgent") if isinstance(click.get("userAgent"), str) else None
    cls = agent_class(user_agent) if kind in ("open", "click") and user_agent else None
    when = payload.get("created_at")
    return [
        email_event(
            PROVIDER,
            kind,
            iso(when) if when else received_at,
            provider_id=message_id,
            content=payload,
            campaign_id=campaign_id,
            contact_id=contact_id,
            agent=cls,
            is_machine=scanner_flag(cls),
            url=click.get("link"),
            address=address,
            hard=bounce.get("type", "Permanent") == "Permanent",
        )
    ]
