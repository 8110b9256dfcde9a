"""Signed webhooks per the Standard Webhooks spec, with the ``standardwebhooks`` library.

Each contact's message is a JSON POST ``{"type", "timestamp", "data"}`` to the campaign's URL
with ``webhook-id`` (the ledger row's idempotency key, the same on every retry),
``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``). Receivers must
de-duplicate by ``webhook-id`` (the spec asks them to), so timeouts and 5xx are retried safely.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from aicmo.errors import ConfigError
from aicmo.settings import PublishingSettings
from aicmo.tasks.gateway import post
from aicmo.tasks.publishing.channels.base import Envelope, Verdict
from aicmo.tasks.publishing.channels.http import HttpChannel


class WebhookChannel(HttpChannel):
    """Standard Webhooks delivery."""

    name = "webhook"
    credential_hint = "the receiver's configuration (and AICMO_WEBHOOK_SECRET)"
    lean_client = True  # bodies are bytes: the gateway's lean keep-alive client posts them

    def __init__(self, settings: PublishingSettings, *, event: str = "campaign.message", **kw: Any) -> None:
        super().__init__(settings, **kw)
        if settings.webhook_secret is None:
            raise ConfigError("webhook: set AICMO_WEBHOOK_SECRET (whsec_...) to sign webhooks")
        try:
            self.signer = Webhook(settings.webhook_secret.get_secret_value())
        except Exception as exc:  # a secret that is not base64
            raise ConfigError(
                f"AICMO_WEBHOOK_SECRET is not a valid signing secret ({type(exc).__name__})"
            ) from None
        self.event = event

    def signed(self, envelope: Envelope, now: datetime | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and Standard Webhooks headers of one envelope."""
        now = now or datetime.now(UTC)
        payload = {
            "type": self.event,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {
                "campaign_id": envelope.campaign_id,
                "contact_id": envelope.contact_id,
                **envelope.message.data,
            },
        }
        body = json.dumps(payload, separators=(",", ":"))
        msg_id = f"msg_{envelope.idempotency_key[:32]}"
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(msg_id, now, body),
            "Content-Type": "application/json",
        }
        return body.encode(), headers

    async def deliver(self, envelope: Envelope) -> Verdict:
        assert self.client is not None
        body, headers = self.signed(envelope)
        response = await post(
            self.client,
            envelope.address,
            provider="webhook",
            settings=self.gateway,
            content=body,
            headers=headers,
            key_honoured=True,
            breaker=self.breaker,
        )
        if 200 <= response.status_code < 300:
            return Verdict.sent(headers["webhook-id"])
        return self.classify(response, response.text[:200])
