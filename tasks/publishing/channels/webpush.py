"""Web push (RFC 8030) with payload encryption (RFC 8291, ``aes128gcm``) and VAPID (RFC 8292).

``pywebpush`` encrypts the payload for the subscription's ``p256dh``/``auth`` keys and
``py_vapid`` signs the ``Authorization: vapid t=..., k=...`` header (``aud`` = the push
service's origin); the POST goes through the gateway. 201 is sent (``Location`` is the message
id); 404/410 mean the subscription is gone and it is dropped; 413 is permanent; 429/5xx are
transient. Push services do not de-duplicate, so a POST is retried only when it never left.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from py_vapid import Vapid02
from pywebpush import WebPusher

from aicmo.errors import ConfigError
from aicmo.settings import PublishingSettings
from aicmo.tasks.gateway import post
from aicmo.tasks.publishing.channels.base import Envelope, Verdict
from aicmo.tasks.publishing.channels.http import HttpChannel

TTL_S = 86_400


def load_vapid(private_key: str) -> Vapid02:
    """A VAPID signer from a PEM or base64url (raw/DER) private key; ConfigError if it is neither."""
    try:
        if "BEGIN" in private_key:
            return Vapid02.from_pem(private_key.encode())
        return Vapid02.from_string(private_key)
    except Exception as exc:  # py_vapid raises assorted errors for a bad key
        raise ConfigError(
            f"AICMO_VAPID_PRIVATE_KEY is not a usable EC P-256 private key ({type(exc).__name__})"
        ) from None


class WebPushChannel(HttpChannel):
    """Encrypted, VAPID-signed pushes to each contact's browser subscription."""

    name = "webpush"
    credential_hint = "AICMO_VAPID_PRIVATE_KEY"

    def __init__(self, settings: PublishingSettings, **kw: Any) -> None:
        super().__init__(settings, **kw)
        if settings.vapid_private_key is None:
            raise ConfigError("webpush: set AICMO_VAPID_PRIVATE_KEY to send web push")
        self.vapid = load_vapid(settings.vapid_private_key.get_secret_value())
        self._auth: dict[str, tuple[float, dict[str, str]]] = {}

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        cached = self._auth.get(audience)
        now = time.time()
        if cached is None or cached[0] - now < 600:
            expires = now + 12 * 3600
            headers = self.vapid.sign(
                {"aud": audience, "exp": int(expires), "sub": self.settings.vapid_subject}
            )
            cached = self._auth[audience] = (expires, {k: str(v) for k, v in headers.items()})
        return cached[1]

    async def deliver(self, envelope: Envelope) -> Verdict:
        assert self.client is not None
        m = envelope.message
        payload = json.dumps(
            {"title": m.title, "body": m.text, "url": m.url, "campaign_id": envelope.campaign_id},
            separators=(",", ":"),
        ).encode()
        subscription = {"endpoint": envelope.address, "keys": envelope.extra}
        try:
            encoded = WebPusher(subscription).encode(payload, "aes128gcm")
        except Exception as exc:  # a malformed p256dh/auth key: this subscription can never work
            return Verdict.permanent(
                f"bad subscription keys: {type(exc).__name__}", "token_gone", drop_endpoint=True
            )
        headers = {
            **self._vapid_headers(envelope.address),
            "Content-Encoding": "aes128gcm",
            "TTL": str(TTL_S),
            "Urgency": "normal",
            "Content-Type": "application/octet-stream",
        }
        response = await post(
            self.client,
            envelope.address,
            provider="webpush",
            settings=self.gateway,
            content=bytes(encoded["body"]),
            headers=headers,
            breaker=self.breaker,
        )
        status = response.status_code
        if status in (200, 201, 202):
            return Verdict.sent(response.headers.get("Location") or envelope.idempotency_key[:32])
        detail = f"{status} {response.text[:200]}"
        if status in (404, 410):
            return Verdict.permanent(detail, "token_gone", drop_endpoint=True)
        if status == 413:
            return Verdict.permanent(detail, "payload_too_large")
        return self.classify(response, detail)
