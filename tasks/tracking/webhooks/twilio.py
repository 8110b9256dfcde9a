"""Twilio SMS status callbacks: form-encoded parameters signed with ``X-Twilio-Signature``.

The signature is base64 HMAC-SHA1, under the account's auth token, of the full public URL the
callback was sent to followed by each POST parameter's name and value, sorted by name. Query
parameters of the callback URL (set when the message was sent) are covered by the signature, so
they carry the campaign and contact. ``MessageSid`` + ``MessageStatus`` identify an event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aicmo.tasks.tracking.events import TrackedEvent, content_id
from aicmo.tasks.tracking.webhooks.base import Rejected, WebhookRequest, ids_from

PROVIDER = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
TYPES = {"sent": "send", "delivered": "deliver", "undelivered": "bounce", "failed": "bounce", "read": "open"}
HARD_ERRORS = {"30005", "30006", "21211", "21614"}
"""Unknown or invalid number, landline: the address will never take an SMS."""
UNSUBSCRIBED_ERROR = "21610"
"""The recipient replied STOP: Twilio blocks further messages."""


def signature_of(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    """Twilio's request signature for ``url`` and POST ``params``."""
    text = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def form_params(body: bytes) -> list[tuple[str, str]]:
    """The form-encoded parameters of a body."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise Rejected("malformed_event", 400, "not a form-encoded body") from None


def verify(request: WebhookRequest, auth_token: str | None) -> list[tuple[str, str]]:
    """Check the signature; returns the POST parameters."""
    if not auth_token:
        raise Rejected("not_configured", 404)
    if request.content_type.split(";")[0].strip().lower() != FORM:
        raise Rejected("content_type", 415)
    given = request.header(SIGNATURE_HEADER)
    if not given:
        raise Rejected("missing_signature", 401)
    params = form_params(request.body)
    if not hmac.compare_digest(signature_of(request.url, params, auth_token), given):
        raise Rejected("bad_signature", 401)
    return params


def parse_event(params: Any, *, url: str | None = None, received_at: datetime) -> list[TrackedEvent]:
    """One status callback (its parameters as a mapping) -> zero or one tracked event."""
    if not isinstance(params, dict) or not isinstance(params.get("MessageStatus"), str):
        raise Rejected("malformed_event", 400, "a Twilio status callback needs MessageStatus")
    status = params["MessageStatus"]
    kind = TYPES.get(status)
    if kind is None:
        return []
    error = str(params.get("ErrorCode") or "")
    if kind == "bounce" and error == UNSUBSCRIBED_ERROR:
        kind = "unsubscribe"
    query = dict(parse_qsl(urlsplit(url).query)) if url else {}
    campaign_id, contact_id = ids_from(query or params)
    sid = params.get("MessageSid") or params.get("SmsSid")
    provider_id = f"{sid}:{status}" if isinstance(sid, str) and sid else None
    return [
        TrackedEvent(
            event_id=f"{PROVIDER}:{provider_id}" if provider_id else content_id(PROVIDER, params),
            ts=received_at,
            type=kind,
            channel="sms",
            provider=PROVIDER,
            campaign_id=campaign_id,
            contact_id=contact_id,
            provider_event_id=provider_id,
            address=params.get("To") if isinstance(params.get("To"), str) else None,
            hard=(error in HARD_ERRORS) if kind == "bounce" else None,
        )
    ]
