"""Each provider's webhook: its signature check, its parser, its replay key and its OpenAPI body.

:class:`ProviderHandlers` turns a received request into events (raising :class:`Rejected`) and the
key under which a replay of the same request is recognised; the service maps one route per
provider onto it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from aicmo.settings import TrackingSettings
from aicmo.tasks.tracking.events import TrackedEvent
from aicmo.tasks.tracking.webhooks import mailgun, postmark, sendgrid, ses, standard, twilio
from aicmo.tasks.tracking.webhooks.base import WebhookRequest

Handled = tuple[list[TrackedEvent], str | None]


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_OBJECT = {"type": "object"}
SENDGRID_BODY = _json_body(
    {"type": "array", "items": {"type": "object", "required": ["event", "timestamp"],
     "properties": {"event": {"type": "string"}, "timestamp": {"type": "integer"}, "email": {"type": "string"},
                    "sg_event_id": {"type": "string"}}}}
)  # fmt: skip
MAILGUN_BODY = _json_body(
    {"type": "object", "required": ["signature", "event-data"],
     "properties": {"signature": {"type": "object", "required": ["timestamp", "token", "signature"],
                                  "properties": {k: {"type": "string"} for k in ("timestamp", "token", "signature")}},
                    "event-data": {"type": "object", "required": ["event"], "properties": {"event": {"type": "string"}}}}}
)  # fmt: skip
POSTMARK_BODY = _json_body(
    {"type": "object", "required": ["RecordType"], "properties": {"RecordType": {"type": "string"}, "MessageID": {"type": "string"}}}
)  # fmt: skip
STANDARD_BODY = _json_body(
    {
        "type": "object",
        "required": ["type", "data"],
        "properties": {"type": {"type": "string"}, "data": _OBJECT},
    }
)
FORM_BODY: dict[str, Any] = {
    "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}}
}
TEXT_BODY: dict[str, Any] = {"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}}

WEBHOOKS: dict[str, tuple[str, dict[str, Any]]] = {
    "sendgrid": ("SendGrid Event Webhook", SENDGRID_BODY),
    "mailgun": ("Mailgun webhook", MAILGUN_BODY),
    "postmark": ("Postmark webhook", POSTMARK_BODY),
    "ses": ("Amazon SES through SNS", TEXT_BODY),
    "twilio": ("Twilio SMS status callback", FORM_BODY),
    "standard": ("Standard Webhooks receiver", STANDARD_BODY),
}
"""Route name -> (summary, OpenAPI request body)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class ProviderHandlers:
    """One method per provider: verify, parse, and name the replay key."""

    def __init__(self, cfg: TrackingSettings, certificates: ses.CertificateCache) -> None:
        self.cfg = cfg
        self.certificates = certificates

    @staticmethod
    def _body_key(source: str, wr: WebhookRequest) -> str:
        return f"{source}:{hashlib.sha256(wr.body).hexdigest()}"

    def sendgrid(self, wr: WebhookRequest) -> Handled:
        sendgrid.verify(wr, self.cfg.sendgrid_public_key, _now(), self.cfg.timestamp_tolerance_s)
        return sendgrid.parse(wr.body), f"sendgrid:{wr.header(sendgrid.SIGNATURE_HEADER)}"

    def mailgun(self, wr: WebhookRequest) -> Handled:
        token = mailgun.verify(
            wr, _secret(self.cfg.mailgun_signing_key), _now(), self.cfg.timestamp_tolerance_s
        )
        return mailgun.parse(wr.body), f"mailgun:{token}"

    def postmark(self, wr: WebhookRequest) -> Handled:
        postmark.verify(wr, self.cfg.postmark_username, _secret(self.cfg.postmark_password))
        return postmark.parse(wr.body), self._body_key("postmark", wr)

    def twilio(self, wr: WebhookRequest) -> Handled:
        params = twilio.verify(wr, _secret(self.cfg.twilio_auth_token))
        return twilio.parse_event(dict(params), url=wr.url, received_at=_now()), self._body_key("twilio", wr)

    def standard(self, wr: WebhookRequest) -> Handled:
        payload = standard.verify(wr, _secret(self.cfg.standard_webhooks_secret))
        msg_id = wr.header("webhook-id")
        return standard.parse_event(payload, msg_id, _now()), f"standard:{msg_id}"

    def ses(self, wr: WebhookRequest) -> Handled:
        envelope = ses.verify(wr, self.certificates, _now(), self.cfg.sns_topic_arns)
        if envelope["Type"] != "Notification":
            if envelope["Type"] == "SubscriptionConfirmation":
                ses.confirm_subscription(envelope, self.cfg.sns_origin_pattern)
            return [], None
        return ses.parse_event(envelope), f"ses:{envelope.get('MessageId')}"
