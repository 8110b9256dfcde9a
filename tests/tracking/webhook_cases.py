"""Signed requests in each provider's real shape, built the way the provider builds them.

Each case signs with a key and a time and can be spoiled: a tampered body, the wrong key, a stale
timestamp, a missing signature header. Payloads follow the providers' documented examples.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from standardwebhooks import Webhook

from aicmo.tasks.tracking.webhooks.ses import string_to_sign
from aicmo.tasks.tracking.webhooks.twilio import signature_of


@dataclass
class Built:
    """A request ready to send."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Case:
    """How one provider signs, which settings the service needs, and what a valid request holds."""

    name: str
    settings: dict[str, Any]
    build: Callable[..., Built]  # build(key=..., ts=..., base_url=..., tamper=False, drop_header=False)
    events: int  # events in the valid request
    stale_s: int | None  # how old a timestamp must be to be refused (None: the scheme has none)
    hard_bounce_address: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _now_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- SendGrid ----------------------------------------------------------------------------------
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_OTHER = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()


def sendgrid_events(ts: float, n: int = 3, prefix: str = "sg") -> list[dict[str, Any]]:
    """A batch like SendGrid's documented sample: delivered, bounce, an Apple-proxied open."""
    base = {"email": "example@test.com", "timestamp": int(ts), "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "category": "cat facts", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "aicmo_campaign_id": "7", "aicmo_contact_id": "42"}  # fmt: skip
    rows = [
        {**base, "event": "delivered", "response": "250 OK", "sg_event_id": f"{prefix}-delivered"},
        {**base, "event": "bounce", "type": "bounce", "status": "5.0.0", "reason": "500 unknown recipient",
         "sg_event_id": f"{prefix}-bounce"},
        {**base, "event": "open", "sg_machine_open": True, "useragent": "Mozilla/5.0", "ip": "17.58.63.1",
         "sg_event_id": f"{prefix}-open"},
    ]  # fmt: skip
    return rows[:n]


def build_sendgrid(*, key: Any = SENDGRID_KEY, ts: float, tamper: bool = False, drop_header: bool = False,
                   **_: Any) -> Built:  # fmt: skip
    body = json.dumps(sendgrid_events(ts)).encode()
    stamp = str(int(ts))
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    headers = {"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
               "X-Twilio-Email-Event-Webhook-Signature": signature}  # fmt: skip
    if drop_header:
        del headers["X-Twilio-Email-Event-Webhook-Signature"]
    if tamper:
        body = body.replace(b"example@test.com", b"victim@test.com")
    return Built("/webhooks/sendgrid", headers, body)


# ---- Mailgun -----------------------------------------------------------------------------------
MAILGUN_KEY = "key-mailgun-signing-0123456789"


def build_mailgun(*, key: str = MAILGUN_KEY, ts: float, tamper: bool = False, drop_header: bool = False,
                  event_id: str = "CPgfbmQMTCKtHW6uIWtuVe", token: str | None = None, **_: Any) -> Built:  # fmt: skip
    token = token or uuid.uuid4().hex + uuid.uuid4().hex[:18]
    stamp = str(int(ts))
    signature = {"timestamp": stamp, "token": token,
                 "signature": hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()}  # fmt: skip
    if tamper:  # the HMAC covers timestamp + token: change the token it was made for
        signature["token"] = token[::-1]
    payload: dict[str, Any] = {
        "event-data": {
            "event": "failed", "severity": "permanent", "reason": "bounce", "id": event_id,
            "timestamp": ts, "recipient": "alice@example.com", "log-level": "error",
            "delivery-status": {"code": 550, "message": "5.1.1 The email account that you tried to reach does not exist"},
            "message": {"headers": {"message-id": "20130503182626.18666.16540@example.com"}},
            "user-variables": {"aicmo_campaign_id": "7", "aicmo_contact_id": "42"},
        }
    }  # fmt: skip
    if not drop_header:
        payload["signature"] = signature
    return Built("/webhooks/mailgun", {"Content-Type": "application/json"}, json.dumps(payload).encode())


# ---- Postmark ----------------------------------------------------------------------------------
POSTMARK_USER, POSTMARK_PASS = "postmark-hooks", "s3cret-basic-auth-pass"


def build_postmark(*, key: str = POSTMARK_PASS, ts: float, tamper: bool = False, drop_header: bool = False,
                   **_: Any) -> Built:  # fmt: skip
    record = {
        "RecordType": "Bounce", "MessageStream": "outbound", "ID": 4323372036854775807, "Type": "HardBounce",
        "TypeCode": 1, "Name": "Hard bounce", "Tag": "Test", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"aicmo_campaign_id": "7", "aicmo_contact_id": "42"}, "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "Test bounce details", "Email": "john@example.com", "From": "sender@example.com",
        "BouncedAt": _now_iso(ts).replace("Z", "0000Z"), "DumpAvailable": True, "Inactive": True,
        "CanActivate": True, "Subject": "Test subject", "Content": "<Full dump of bounce>",
    }  # fmt: skip
    headers = {"Content-Type": "application/json",
               "Authorization": "Basic " + base64.b64encode(f"{POSTMARK_USER}:{key}".encode()).decode()}  # fmt: skip
    if drop_header:
        del headers["Authorization"]
    if tamper:  # basic auth covers no body: a tampered credential is the failure to check
        headers["Authorization"] = headers.get("Authorization", "Basic ")[:-2] + "xx"
    return Built("/webhooks/postmark", headers, json.dumps(record).encode())


# ---- Twilio ------------------------------------------------------------------------------------
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"


def build_twilio(*, key: str = TWILIO_TOKEN, ts: float, base_url: str, tamper: bool = False,
                 drop_header: bool = False, **_: Any) -> Built:  # fmt: skip
    path = "/webhooks/twilio?" + urlencode({"aicmo_campaign_id": 7, "aicmo_contact_id": 42})
    params = {"SmsSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "SmsStatus": "undelivered",
              "MessageStatus": "undelivered", "ErrorCode": "30005", "To": "+14155550100",
              "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "AccountSid": "AC" + "0" * 32,
              "From": "+15017122661", "ApiVersion": "2010-04-01"}  # fmt: skip
    signature = signature_of(base_url + path, sorted(params.items()), key)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    if drop_header:
        del headers["X-Twilio-Signature"]
    if tamper:
        params["To"] = "+14155550199"
    return Built(path, headers, urlencode(params).encode())


# ---- Standard Webhooks -------------------------------------------------------------------------
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-secret-32b").decode()
STANDARD_OTHER = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()


def build_standard(*, key: str = STANDARD_SECRET, ts: float, tamper: bool = False, drop_header: bool = False,
                   msg_id: str | None = None, **_: Any) -> Built:  # fmt: skip
    payload = {
        "type": "email.bounced", "created_at": _now_iso(ts),
        "data": {"created_at": _now_iso(ts), "email_id": "56761188-7520-42d8-8898-ff6fc54ce618",
                 "from": "Acme <onboarding@resend.dev>", "to": ["delivered@resend.dev"],
                 "subject": "Sending this example",
                 "bounce": {"message": "The recipient's email address is on the suppression list.",
                            "subType": "Suppressed", "type": "Permanent"},
                 "tags": {"aicmo_campaign_id": "7", "aicmo_contact_id": "42"}},
    }  # fmt: skip
    body = json.dumps(payload)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = datetime.fromtimestamp(ts, UTC)
    signature = Webhook(key).sign(msg_id, stamp, body)
    headers = {"Content-Type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(int(ts)), "webhook-signature": signature}  # fmt: skip
    if drop_header:
        del headers["webhook-signature"]
    if tamper:
        body = body.replace("delivered@resend.dev", "someone@resend.dev")
    return Built("/webhooks/standard", headers, body.encode())


# ---- Amazon SES through SNS --------------------------------------------------------------------
def _certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-west-2.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM)


SNS_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SNS_OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SNS_PEM = _certificate(SNS_KEY)
SNS_ORIGIN = r"^http://127\.0\.0\.1:\d+$"
TOPIC = "arn:aws:sns:us-west-2:123456789012:ses-events"


class CertServer:
    """Serves the SNS signing certificate on 127.0.0.1 and records subscription confirmations."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                if self.path.endswith(".pem"):
                    body, kind = SNS_PEM, "application/x-pem-file"
                else:
                    body, kind = b"<ConfirmSubscriptionResponse/>", "text/xml"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def cert_server() -> Iterator[CertServer]:
    """A certificate server for the duration of a test."""
    server = CertServer()
    try:
        yield server
    finally:
        server.close()


def ses_bounce(ts: float) -> dict[str, Any]:
    """An SES bounce notification as documented (one permanent bounce)."""
    when = _now_iso(ts)
    return {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "timestamp": when,
                   "feedbackId": "000001378603176d-5a4b5ad9-6f30-4198-a8c3-b1eb0c270a1d-000000",
                   "bouncedRecipients": [{"emailAddress": "recipient@example.com", "action": "failed",
                                          "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
        "mail": {"timestamp": when, "messageId": "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000",
                 "source": "sender@example.com", "destination": ["recipient@example.com"],
                 "tags": {"aicmo_campaign_id": ["7"], "aicmo_contact_id": ["42"]}},
    }  # fmt: skip


def sns_envelope(message: dict[str, Any] | str, *, cert_url: str, ts: float, kind: str = "Notification",
                 key: rsa.RSAPrivateKey = SNS_KEY, version: str = "2", subscribe_url: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A signed SNS message as SNS posts it."""
    envelope: dict[str, Any] = {
        "Type": kind, "MessageId": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(message, sort_keys=True))),
        "TopicArn": TOPIC, "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": _now_iso(ts), "SignatureVersion": version, "SigningCertURL": cert_url,
    }  # fmt: skip
    if kind == "Notification":
        envelope["UnsubscribeURL"] = cert_url.rsplit("/", 1)[0] + "/?Action=Unsubscribe"
    else:
        envelope["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3"
        envelope["SubscribeURL"] = (
            subscribe_url or cert_url.rsplit("/", 1)[0] + "/?Action=ConfirmSubscription"
        )
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    envelope["Signature"] = base64.b64encode(
        key.sign(string_to_sign(envelope), padding.PKCS1v15(), digest)
    ).decode()
    return envelope


def build_ses(*, key: rsa.RSAPrivateKey = SNS_KEY, ts: float, tamper: bool = False, drop_header: bool = False,
              cert_base: str, **_: Any) -> Built:  # fmt: skip
    envelope = sns_envelope(ses_bounce(ts), cert_url=f"{cert_base}/SimpleNotificationService-test.pem", ts=ts,
                            key=key)  # fmt: skip
    if drop_header:
        del envelope["Signature"]
    if tamper:
        envelope["Message"] = envelope["Message"].replace("recipient@example.com", "victim@example.com")
    headers = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
    return Built("/webhooks/ses", headers, json.dumps(envelope).encode())


CASES = {
    "sendgrid": Case("sendgrid", {"sendgrid_public_key": SENDGRID_PUBLIC}, build_sendgrid, 3, 300,
                     "example@test.com", {"wrong_key": SENDGRID_OTHER}),
    "mailgun": Case("mailgun", {"mailgun_signing_key": SecretStr(MAILGUN_KEY)}, build_mailgun, 1, 300,
                    "alice@example.com", {"wrong_key": "key-some-other-key"}),
    "postmark": Case("postmark", {"postmark_username": POSTMARK_USER, "postmark_password": SecretStr(POSTMARK_PASS)},
                     build_postmark, 1, None, "john@example.com", {"wrong_key": "not-the-password"}),
    "twilio": Case("twilio", {"twilio_auth_token": SecretStr(TWILIO_TOKEN)}, build_twilio, 1, None, None,
                   {"wrong_key": "another-auth-token"}),
    "standard": Case("standard", {"standard_webhooks_secret": SecretStr(STANDARD_SECRET)}, build_standard, 1, 300,
                     "delivered@resend.dev", {"wrong_key": STANDARD_OTHER}),
    "ses": Case("ses", {"sns_origin_pattern": SNS_ORIGIN, "sns_topic_arns": [TOPIC]}, build_ses, 1, 3600,
                "recipient@example.com", {"wrong_key": SNS_OTHER}),
}  # fmt: skip


def now() -> float:
    """The time requests are signed at."""
    return time.time()
