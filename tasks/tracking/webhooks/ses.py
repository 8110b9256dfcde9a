"""Amazon SES notifications through Amazon SNS: certificate-signed messages, subscription handshake.

SNS POSTs a JSON envelope (``Content-Type: text/plain``) signed with the private key of the
certificate at ``SigningCertURL``: RSA PKCS#1 v1.5 over SHA1 (``SignatureVersion`` 1) or SHA256
(2) of the canonical "name\\nvalue\\n" string of the envelope's fields. The certificate is fetched
only from an origin matching the SNS host pattern (``https://sns.<region>.amazonaws.com``) and
cached by URL. A ``SubscriptionConfirmation`` is verified the same way, then confirmed by a GET
of its ``SubscribeURL`` (same origin rule). A ``Notification``'s ``Message`` is the SES event
(``notificationType`` from identity notifications or ``eventType`` from configuration-set event
publishing): Bounce, Complaint, Delivery, Send, Open, Click.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from aicmo.tasks.tracking.events import TrackedEvent
from aicmo.tasks.tracking.machine import agent_class
from aicmo.tasks.tracking.webhooks.base import (
    Rejected,
    WebhookRequest,
    check_fresh,
    email_event,
    ids_from,
    iso,
    json_body,
    obj,
    scanner_flag,
)

PROVIDER = "ses"
MAX_AGE_S = 3600
"""SNS signs the publish time and keeps it across its retries (up to an hour with a custom delivery
policy), so a message is stale only after an hour."""
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SUBSCRIPTION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
TYPES = {
    "Send": "send",
    "Delivery": "deliver",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Open": "open",
    "Click": "click",
}


def allowed_origin(url: str, pattern: str) -> bool:
    """Whether ``url``'s scheme://host[:port] matches the SNS origin pattern."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc or "@" in parts.netloc:
        return False
    return (
        re.fullmatch(pattern.removeprefix("^").removesuffix("$"), f"{parts.scheme}://{parts.netloc}")
        is not None
    )


class CertificateCache:
    """SNS signing certificates by URL, fetched once from allowed origins only."""

    def __init__(self, origin_pattern: str, fetch: Callable[[str], bytes] | None = None) -> None:
        self.origin_pattern = origin_pattern
        self._fetch = fetch or _http_get
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def public_key(self, url: str) -> rsa.RSAPublicKey:
        """The RSA key of the certificate at ``url``."""
        if not allowed_origin(url, self.origin_pattern) or not urlsplit(url).path.endswith(".pem"):
            raise Rejected("bad_certificate_url", 401)
        with self._lock:
            if url in self._keys:
                return self._keys[url]
        try:
            cert = x509.load_pem_x509_certificate(self._fetch(url))
        except (httpx.HTTPError, ValueError):
            raise Rejected("bad_certificate", 401) from None
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Rejected("bad_certificate", 401)
        with self._lock:
            if len(self._keys) >= 64:
                self._keys.clear()
            self._keys[url] = key
        return key


def _http_get(url: str) -> bytes:
    response = httpx.get(url, timeout=5.0, follow_redirects=False)
    response.raise_for_status()
    return response.content


def string_to_sign(envelope: dict[str, Any]) -> bytes:
    """The canonical text SNS signs for this message type."""
    fields = NOTIFICATION_FIELDS if envelope.get("Type") == "Notification" else SUBSCRIPTION_FIELDS
    parts = []
    for name in fields:
        value = envelope.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise Rejected("malformed_event", 400, f"SNS message lacks {name}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def verify(
    request: WebhookRequest,
    certificates: CertificateCache,
    now: datetime,
    topic_arns: list[str],
) -> dict[str, Any]:
    """Check the SNS signature, topic and age; returns the envelope."""
    if request.content_type.split(";")[0].strip().lower() not in ("text/plain", "application/json"):
        raise Rejected("content_type", 415)
    envelope = json_body(request.body)
    if not isinstance(envelope, dict):
        raise Rejected("malformed_json", 400)
    signature, cert_url = envelope.get("Signature"), envelope.get("SigningCertURL")
    if not isinstance(signature, str) or not isinstance(cert_url, str):
        raise Rejected("missing_signature", 401)
    kind = envelope.get("Type")
    if kind not in ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"):
        raise Rejected("malformed_event", 400, f"unknown SNS message type {kind!r}")
    header_kind = request.header("x-amz-sns-message-type")
    if header_kind is not None and header_kind != kind:
        raise Rejected("bad_signature", 401)
    digest: hashes.HashAlgorithm
    if str(envelope.get("SignatureVersion")) == "1":
        digest = hashes.SHA1()
    elif str(envelope.get("SignatureVersion")) == "2":
        digest = hashes.SHA256()
    else:
        raise Rejected("bad_signature", 401)
    message = string_to_sign(envelope)
    key = certificates.public_key(cert_url)
    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), digest)
    except (InvalidSignature, binascii.Error, ValueError):
        raise Rejected("bad_signature", 401) from None
    check_fresh(iso(envelope.get("Timestamp")), now, MAX_AGE_S)
    if topic_arns and envelope.get("TopicArn") not in topic_arns:
        raise Rejected("unknown_topic", 403)
    return envelope


def confirm_subscription(envelope: dict[str, Any], origin_pattern: str) -> None:
    """Visit the SubscribeURL of a verified SubscriptionConfirmation (allowed origins only)."""
    url = envelope.get("SubscribeURL")
    if not isinstance(url, str) or not allowed_origin(url, origin_pattern):
        raise Rejected("bad_subscribe_url", 400)
    try:
        httpx.get(url, timeout=10.0, follow_redirects=False).raise_for_status()
    except httpx.HTTPError:
        raise Rejected("subscribe_failed", 502) from None


def _recipients(kind: str, body: dict[str, Any], mail: dict[str, Any]) -> list[str]:
    if kind == "Bounce":
        found = [r.get("emailAddress") for r in body.get("bouncedRecipients", []) if isinstance(r, dict)]
    elif kind == "Complaint":
        found = [r.get("emailAddress") for r in body.get("complainedRecipients", []) if isinstance(r, dict)]
    elif kind == "Delivery":
        found = list(body.get("recipients", []))
    else:
        found = list(mail.get("destination", []))
    return [r for r in found if isinstance(r, str)] or [""]


def parse_event(notification: Any) -> list[TrackedEvent]:
    """One SES notification (the SNS ``Message``, or an SNS envelope holding it) -> tracked events."""
    if isinstance(notification, dict) and notification.get("Type") == "Notification":
        notification = json_body(str(notification.get("Message", "")).encode())
    if not isinstance(notification, dict):
        raise Rejected("malformed_event", 400, "an SES notification is a JSON object")
    kind = notification.get("eventType") or notification.get("notificationType")
    if kind not in TYPES:
        return []
    mail = obj(notification.get("mail"))
    body = obj(notification.get(kind.lower()))
    message_id = mail.get("messageId")
    when = body.get("timestamp") or mail.get("timestamp")
    campaign_id, contact_id = ids_from(mail.get("tags"))
    user_agent = body.get("userAgent") if isinstance(body.get("userAgent"), str) else None
    cls = agent_class(user_agent) if kind in ("Open", "Click") else None
    hard = body.get("bounceType") == "Permanent" if kind == "Bounce" else None
    events = []
    for recipient in _recipients(kind, body, mail):
        provider_id = f"{message_id}:{kind}:{recipient}:{when}" if message_id else None
        events.append(
            email_event(
                PROVIDER,
                TYPES[kind],
                iso(when),
                provider_id=provider_id,
                content=[notification, recipient],
                campaign_id=campaign_id,
                contact_id=contact_id,
                agent=cls,
                is_machine=scanner_flag(cls),
                url=body.get("link"),
                address=recipient or None,
                hard=hard,
            )
        )
    return events
