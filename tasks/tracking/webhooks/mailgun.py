"""Mailgun webhooks: ``{"signature": {timestamp, token, signature}, "event-data": {...}}``.

The signature is the hex HMAC-SHA256 of ``timestamp + token`` under the webhook signing key. It
does not cover the event data, so the token is also remembered (:class:`ReplayGuard`): a second
request with the same token is a replay. Mailgun's event ``id`` makes redeliveries land once.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

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
    obj,
    require_json,
    scanner_flag,
)

PROVIDER = "mailgun"
TYPES = {
    "accepted": "send",
    "delivered": "deliver",
    "opened": "open",
    "clicked": "click",
    "failed": "bounce",
    "unsubscribed": "unsubscribe",
    "complained": "complaint",
}


def verify(request: WebhookRequest, signing_key: str | None, now: datetime, tolerance_s: int) -> str:
    """Check the HMAC and the timestamp; returns the token (for the replay guard)."""
    if not signing_key:
        raise Rejected("not_configured", 404)
    require_json(request)
    body = json_body(request.body)
    signature = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(signature, dict) or not all(
        isinstance(signature.get(k), str | int) for k in ("timestamp", "token", "signature")
    ):
        raise Rejected("missing_signature", 401)
    timestamp, token = str(signature["timestamp"]), str(signature["token"])
    check_fresh(epoch(timestamp), now, tolerance_s)
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(signature["signature"])):
        raise Rejected("bad_signature", 401)
    return token


def parse_event(data: Any) -> list[TrackedEvent]:
    """One Mailgun ``event-data`` object -> zero or one tracked event."""
    if isinstance(data, dict) and "event-data" in data:
        data = data["event-data"]
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise Rejected("malformed_event", 400, "Mailgun event-data needs an 'event' field")
    kind = TYPES.get(data["event"])
    if kind is None:
        return []
    if kind == "bounce" and data.get("severity") == "temporary":
        hard = False
    else:
        hard = kind == "bounce"
    campaign_id, contact_id = ids_from(data.get("user-variables"))
    provider_id = data.get("id") if isinstance(data.get("id"), str) else None
    client = obj(data.get("client-info"))
    user_agent = client.get("user-agent") if isinstance(client.get("user-agent"), str) else None
    cls = agent_class(user_agent) if kind in ("open", "click") else None
    return [
        email_event(
            PROVIDER,
            kind,
            epoch(data.get("timestamp")),
            provider_id=provider_id,
            content=data,
            campaign_id=campaign_id,
            contact_id=contact_id,
            agent=cls,
            is_machine=scanner_flag(cls),
            url=data.get("url"),
            address=data.get("recipient"),
            hard=hard,
        )
    ]


def parse(body: bytes) -> list[TrackedEvent]:
    """A webhook body -> tracked events."""
    payload = json_body(body)
    if not isinstance(payload, dict) or "event-data" not in payload:
        raise Rejected("malformed_event", 400, "a Mailgun webhook body has 'event-data'")
    return parse_event(payload["event-data"])
