"""Mobile push through the FCM HTTP v1 shape: ``POST {base}/v1/projects/{project}/messages:send``.

OAuth bearer token; the body is ``{"message": {"token", "notification": {title, body},
"data": {...}}}``. ``UNREGISTERED`` (404) and ``INVALID_ARGUMENT`` (400) about the token drop it
from the contact; QUOTA_EXCEEDED/UNAVAILABLE/INTERNAL are transient (Retry-After honoured);
401/403 halts. FCM does not de-duplicate sends, so a POST is retried only when it never left.
"""

from __future__ import annotations

from typing import Any

from aicmo.errors import ConfigError
from aicmo.settings import PublishingSettings
from aicmo.tasks.gateway import post
from aicmo.tasks.publishing.channels.base import Envelope, Verdict
from aicmo.tasks.publishing.channels.http import HttpChannel


def fcm_error_code(body: Any) -> str:
    """The ``errorCode`` of an FCM v1 error body (``details[].errorCode``), else its ``status``."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    for detail in error.get("details", []) or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status", ""))


class FcmChannel(HttpChannel):
    """FCM HTTP v1 delivery to each contact's device token."""

    name = "push"
    credential_hint = "AICMO_FCM_ACCESS_TOKEN"

    def __init__(self, settings: PublishingSettings, **kw: Any) -> None:
        super().__init__(settings, **kw)
        if not (settings.fcm_project_id and settings.fcm_access_token):
            raise ConfigError("push: set AICMO_FCM_PROJECT_ID and AICMO_FCM_ACCESS_TOKEN to send mobile push")
        self.url = f"{settings.fcm_base_url.rstrip('/')}/v1/projects/{settings.fcm_project_id}/messages:send"
        self.headers = {"Authorization": f"Bearer {settings.fcm_access_token.get_secret_value()}"}

    async def deliver(self, envelope: Envelope) -> Verdict:
        assert self.client is not None
        m = envelope.message
        data = {"campaign_id": str(envelope.campaign_id), "message_key": envelope.idempotency_key[:32]}
        if m.url:
            data["url"] = m.url
        body = {
            "message": {
                "token": envelope.address,
                "notification": {"title": m.title, "body": m.text},
                "data": data,
            }
        }
        response = await post(
            self.client,
            self.url,
            provider="fcm",
            settings=self.gateway,
            json=body,
            headers=self.headers,
            breaker=self.breaker,
        )
        if response.status_code == 200:
            return Verdict.sent(str(response.json().get("name")))
        try:
            error = response.json()
        except ValueError:
            error = {}
        code = fcm_error_code(error)
        detail = f"{code} {error.get('error', {}).get('message', '')}".strip()
        if code in ("UNREGISTERED", "INVALID_ARGUMENT") and response.status_code in (400, 404):
            return Verdict.permanent(detail, "token_gone", drop_endpoint=True)
        if code == "SENDER_ID_MISMATCH":
            return Verdict.permanent(detail, "token_gone", drop_endpoint=True)
        return self.classify(response, detail)
