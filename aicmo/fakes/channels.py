"""Every channel's local fake at once (SMTP, Twilio, FCM, web push, Mastodon, webhook receiver),
and publishing settings that point at them, for the demo and the tests::

    with LocalChannels() as local:
        settings = local.settings()
        local.subscription()          # (endpoint, keys, private key) of a new web push subscriber
"""

from __future__ import annotations

import base64
import os
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from aicmo.fakes import fcm_server, mastodon_server, twilio_server
from aicmo.fakes.fcm_server import FakeFcm
from aicmo.fakes.mastodon_server import FakeMastodon
from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.fakes.twilio_server import FakeTwilio
from aicmo.fakes.webhook_receiver import SECRET, WebhookReceiver
from aicmo.fakes.webpush_server import FakeWebPush
from aicmo.settings import PublishingSettings


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class LocalChannels:
    """Starts the fakes; ``settings()`` gives PublishingSettings wired to them."""

    def __init__(self) -> None:
        self.smtp = LocalSmtpServer()
        self.twilio = FakeTwilio()
        self.fcm = FakeFcm()
        self.webpush = FakeWebPush()
        self.mastodon = FakeMastodon()
        self.webhooks = WebhookReceiver()
        vapid = Vapid02()
        vapid.generate_keys()
        self.vapid_pem = vapid.private_pem().decode()

    def start(self) -> LocalChannels:
        """Start every fake."""
        self.smtp.start()
        for app in (self.twilio, self.fcm, self.webpush, self.mastodon, self.webhooks):
            app.start()
        return self

    def close(self) -> None:
        """Stop every fake."""
        for app in (self.twilio, self.fcm, self.webpush, self.mastodon, self.webhooks):
            app.close()
        self.smtp.close()

    def __enter__(self) -> LocalChannels:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def settings(self, **overrides: Any) -> PublishingSettings:
        """Publishing settings that send every channel to these fakes."""
        values: dict[str, Any] = {
            "smtp_host": self.smtp.host,
            "smtp_port": self.smtp.port,
            "smtp_starttls": False,
            "twilio_account_sid": twilio_server.ACCOUNT_SID,
            "twilio_auth_token": twilio_server.AUTH_TOKEN,
            "twilio_from": "+14155550000",
            "twilio_base_url": self.twilio.base_url,
            "fcm_project_id": fcm_server.PROJECT,
            "fcm_access_token": fcm_server.ACCESS_TOKEN,
            "fcm_base_url": self.fcm.base_url,
            "mastodon_base_url": self.mastodon.base_url,
            "mastodon_access_token": mastodon_server.ACCESS_TOKEN,
            "webhook_secret": SECRET,
            "vapid_private_key": self.vapid_pem,
            "rate_limit_per_s": 5_000,
        }
        values.update(overrides)
        return PublishingSettings(**values)

    def env(self) -> dict[str, str]:
        """The same settings as ``AICMO_*`` environment variables (for flows that read settings)."""
        out: dict[str, str] = {}
        for key, value in self.settings().model_dump().items():
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            out[f"AICMO_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    def subscription(self) -> tuple[str, dict[str, str], ec.EllipticCurvePrivateKey]:
        """A new browser subscription: endpoint, ``{"p256dh", "auth"}`` keys, and the browser's private key."""
        private = ec.generate_private_key(ec.SECP256R1())
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": _b64(public), "auth": _b64(os.urandom(16))}
        return self.webpush.subscription_url(), keys, private
