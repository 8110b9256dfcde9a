"""SMS through the Twilio Messages API shape, with E.164 numbers and GSM-7/UCS-2 segment counting.

``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` form-encoded (``To``, ``From``, ``Body``,
``StatusCallback``) with basic auth. Twilio's error codes map to verdicts: 21610 (recipient
replied STOP) is permanent and suppresses the number; 21211/21614 (not a valid/mobile number)
are permanent; 20429/429 and 5xx are transient; 20003/401 halts. Twilio does not de-duplicate
message creation, so a POST is retried only when it never left.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aicmo.errors import ConfigError
from aicmo.settings import PublishingSettings
from aicmo.tasks.gateway import post
from aicmo.tasks.publishing.channels.base import Envelope, Verdict
from aicmo.tasks.publishing.channels.http import HttpChannel

# GSM 03.38 basic character set and its extension table (each extension char costs two septets).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
_BASIC = frozenset(GSM7_BASIC)
_EXT = frozenset(GSM7_EXTENSION)


def sms_segments(text: str) -> tuple[str, int]:
    """``(encoding, segments)``: GSM-7 160/153 septets per segment, else UCS-2 70/67 UTF-16 units."""
    if all(c in _BASIC or c in _EXT for c in text):
        septets = sum(2 if c in _EXT else 1 for c in text)
        return "GSM-7", 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


class SmsChannel(HttpChannel):
    """Twilio-shaped SMS delivery."""

    name = "sms"
    credential_hint = "AICMO_TWILIO_ACCOUNT_SID and AICMO_TWILIO_AUTH_TOKEN"

    def __init__(
        self, settings: PublishingSettings, *, status_callback_base: str | None = None, **kw: Any
    ) -> None:
        super().__init__(settings, **kw)
        self.status_callback_base = status_callback_base.rstrip("/") if status_callback_base else None
        if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
            raise ConfigError(
                "sms: set AICMO_TWILIO_ACCOUNT_SID, AICMO_TWILIO_AUTH_TOKEN and AICMO_TWILIO_FROM to send SMS"
            )
        self.sid = settings.twilio_account_sid
        self.url = f"{settings.twilio_base_url.rstrip('/')}/2010-04-01/Accounts/{self.sid}/Messages.json"
        self.auth = (self.sid, settings.twilio_auth_token.get_secret_value())
        self.segments_sent = 0

    async def deliver(self, envelope: Envelope) -> Verdict:
        assert self.client is not None
        text = envelope.message.text
        _, segments = sms_segments(text)
        form = {"To": envelope.address, "From": self.settings.twilio_from or "", "Body": text}
        if self.status_callback_base:
            ids = {"aicmo_campaign_id": envelope.campaign_id, "aicmo_contact_id": envelope.contact_id}
            form["StatusCallback"] = f"{self.status_callback_base}/webhooks/twilio?{urlencode(ids)}"
        response = await post(
            self.client,
            self.url,
            provider="twilio",
            settings=self.gateway,
            data=form,
            auth=self.auth,
            idempotency_key=None,
            key_honoured=False,
            breaker=self.breaker,
        )
        if response.status_code in (200, 201):
            body = response.json()
            self.segments_sent += int(body.get("num_segments") or segments)
            return Verdict.sent(str(body.get("sid")))
        try:
            error = response.json()
        except ValueError:
            error = {}
        code = int(error.get("code") or 0)
        detail = f"{code} {error.get('message', '')}".strip()
        if code == 21610:
            return Verdict.permanent(detail, "sms_stop", suppress=True)
        if code in (21211, 21614, 21612, 21408):
            return Verdict.permanent(detail, "bad_number")
        return self.classify(response, detail)
