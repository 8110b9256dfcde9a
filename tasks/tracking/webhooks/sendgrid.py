"""SendGrid Event Webhook: ECDSA P-256 signature over timestamp + raw body, a JSON array of events.

SendGrid signs ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the exact body with its
private key; the public verification key (Mail Settings, base64 DER) checks the base64 DER
signature in ``X-Twilio-Email-Event-Webhook-Signature``. Events carry ``sg_event_id``, which
makes a redelivered batch land once; ``custom_args`` appear as top-level keys of each event.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from aicmo.tasks.tracking.events import TrackedEvent
from aicmo.tasks.tracking.machine import agent_class
from aicmo.tasks.tracking.webhooks.base import (
    Rejected,
    WebhookRequest,
    check_fresh,
    email_event,
    epoch,
    ids_from,
    json_body,
    require_json,
)

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TYPES = {
    "processed": "send",
    "delivered": "deliver",
    "open": "open",
    "click": "click",
    "bounce": "bounce",
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
}
"""SendGrid's event names -> the lake's event types (``dropped``, ``deferred`` and others are skipped)."""


@lru_cache(maxsize=4)
def _public_key(b64_der: str) -> ec.EllipticCurvePublicKey:
    key = load_der_public_key(base64.b64decode(b64_der))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the SendGrid verification key is not an EC public key")
    return key


def verify(request: WebhookRequest, public_key_b64: str | None, now: datetime, tolerance_s: int) -> None:
    """Check the ECDSA signature and the timestamp's freshness."""
    if not public_key_b64:
        raise Rejected("not_configured", 404)
    require_json(request)
    signature = request.header(SIGNATURE_HEADER)
    timestamp = request.header(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise Rejected("missing_signature", 401)
    check_fresh(epoch(timestamp) if timestamp.isdigit() else _bad_ts(), now, tolerance_s)
    try:
        _public_key(public_key_b64).verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + request.body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        raise Rejected("bad_signature", 401) from None


def _bad_ts() -> datetime:
    raise Rejected("stale_timestamp", 401)


def parse_event(item: Any) -> list[TrackedEvent]:
    """One SendGrid event -> zero or one tracked event."""
    if not isinstance(item, dict) or not isinstance(item.get("event"), str):
        raise Rejected("malformed_event", 400, "a SendGrid event needs an 'event' field")
    kind = TYPES.get(item["event"])
    if kind is None:
        return []
    campaign_id, contact_id = ids_from(item)
    provider_id = item.get("sg_event_id") if isinstance(item.get("sg_event_id"), str) else None
    user_agent = item.get("useragent") if isinstance(item.get("useragent"), str) else None
    is_machine: bool | None = None
    cls: str | None = None
    if kind in ("open", "click"):
        cls = agent_class(user_agent)
        is_machine = bool(item.get("sg_machine_open")) or cls == "scanner"
        if item.get("sg_machine_open"):
            cls = "apple_mpp"
    hard = kind == "bounce" and item.get("type", "bounce") == "bounce"  # 'blocked' is a soft bounce
    return [
        email_event(
            PROVIDER,
            kind,
            epoch(item.get("timestamp")),
            provider_id=provider_id,
            content=item,
            campaign_id=campaign_id,
            contact_id=contact_id,
            agent=cls,
            is_machine=is_machine,
            url=item.get("url"),
            address=item.get("email"),
            hard=hard,
        )
    ]


def parse(body: bytes) -> list[TrackedEvent]:
    """A webhook body (a JSON array of events) -> tracked events."""
    items = json_body(body)
    if not isinstance(items, list):
        raise Rejected("malformed_event", 400, "the SendGrid body is a JSON array")
    return [event for item in items for event in parse_event(item)]
