"""Signed tracking tokens and the links built from them.

A token is ``<payload>.<tag>``: the payload is base64url of a compact JSON array
``[kind, campaign_id, contact_id, channel, url, issued_at]`` and the tag a 128-bit HMAC-SHA256
over it. ``issued_at`` (epoch seconds, when the message was rendered for sending) lets the click
endpoint tell a link scanner that follows every link seconds after delivery from a person.
The kind (open, click, unsubscribe) is signed, so an open token cannot unsubscribe anyone; a
click token carries its destination URL, so the click endpoint redirects only to a URL that the
campaign's message was rendered with (no open redirect). Keys rotate: the first configured key
signs, every configured key verifies, so an old key can be kept until its links have aged out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aicmo.settings import TrackingSettings, get_settings, installation_key

OPEN, CLICK, UNSUBSCRIBE = "o", "c", "u"
KINDS = (OPEN, CLICK, UNSUBSCRIBE)
TAG_BYTES = 16
MAX_TOKEN_CHARS = 4096
_DOMAIN = b"aicmo-tracking-v1."


class TokenError(ValueError):
    """A token that is forged, truncated, of the wrong kind or malformed."""


@dataclass(frozen=True)
class TrackingToken:
    """What a token says: which campaign's message to which contact on which channel, and the link."""

    kind: str
    campaign_id: int
    contact_id: int
    channel: str
    url: str | None = None
    issued_at: int | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, payload: str) -> bytes:
    return hmac.new(key, _DOMAIN + payload.encode("ascii"), hashlib.sha256).digest()[:TAG_BYTES]


class TokenSigner:
    """Signs with the first key, verifies with any of them."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("at least one tracking key is needed")
        self._keys = [k.encode() if isinstance(k, str) else bytes(k) for k in keys]

    def sign(self, token: TrackingToken) -> str:
        """The URL-safe token text for ``token``."""
        if token.kind not in KINDS:
            raise ValueError(f"unknown token kind {token.kind!r}")
        if (token.kind == CLICK) != (token.url is not None):
            raise ValueError("a click token carries a URL, other tokens none")
        body = [token.kind, token.campaign_id, token.contact_id, token.channel, token.url, token.issued_at]
        payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{payload}.{_b64(_tag(self._keys[0], payload))}"

    def verify(self, text: str, kind: str | None = None) -> TrackingToken:
        """The token ``text`` stands for; :class:`TokenError` if any key's tag does not match."""
        if len(text) > MAX_TOKEN_CHARS or text.count(".") != 1:
            raise TokenError("malformed token")
        payload, tag_text = text.split(".")
        try:
            tag = _unb64(tag_text)
            payload.encode("ascii")
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise TokenError("malformed token") from None
        if len(tag) != TAG_BYTES or not any(hmac.compare_digest(tag, _tag(k, payload)) for k in self._keys):
            raise TokenError("bad signature")
        try:
            body = json.loads(_unb64(payload))
            token = TrackingToken(*body)
        except (ValueError, TypeError):
            raise TokenError("malformed payload") from None
        if not (isinstance(token.campaign_id, int) and isinstance(token.contact_id, int)):
            raise TokenError("malformed payload")
        if kind is not None and token.kind != kind:
            raise TokenError(f"a {token.kind!r} token used as {kind!r}")
        return token


def _now() -> int:
    return int(time.time())


TRACKING_KEY_FILE = "tracking.key"


def signer_from_settings(settings: TrackingSettings | None = None) -> TokenSigner:
    """The signer of the configured keys."""
    cfg = settings or get_settings().tracking
    keys = [k.get_secret_value() for k in cfg.keys]
    return TokenSigner(keys or [installation_key(get_settings().home / TRACKING_KEY_FILE)])


class TrackingLinks:
    """Open-pixel, click and unsubscribe URLs of one message, on the service's public base URL.

    Publishing renders messages with these; the service verifies them.
    """

    def __init__(self, settings: TrackingSettings | None = None) -> None:
        cfg = settings or get_settings().tracking
        self.base_url = cfg.base_url.rstrip("/")
        self.signer = signer_from_settings(cfg)

    def open_url(self, campaign_id: int, contact_id: int, channel: str) -> str:
        """The 1x1 pixel URL that records an open."""
        token = self.signer.sign(TrackingToken(OPEN, campaign_id, contact_id, channel, None, _now()))
        return f"{self.base_url}/o/{token}.gif"

    def click_url(self, campaign_id: int, contact_id: int, channel: str, url: str) -> str:
        """A URL that records a click and redirects to ``url`` (an absolute http(s) URL)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"click target must be an absolute http(s) URL: {url!r}")
        token = self.signer.sign(TrackingToken(CLICK, campaign_id, contact_id, channel, url, _now()))
        return f"{self.base_url}/c/{token}"

    def unsubscribe_url(self, campaign_id: int, contact_id: int, channel: str) -> str:
        """The RFC 8058 one-click unsubscribe URL (also the ``List-Unsubscribe`` header's target)."""
        token = self.signer.sign(TrackingToken(UNSUBSCRIBE, campaign_id, contact_id, channel, None, _now()))
        return f"{self.base_url}/u/{token}"
