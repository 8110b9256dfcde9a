"""Tracking links of a message: open pixel, click redirect, one-click unsubscribe.

Publishing takes any ``LinkSigner``; the tracking service ships one whose tokens it verifies.
``HmacLinks`` is the plain implementation used when none is configured: each URL carries the
fields it is about and an HMAC-SHA256 over them (key from ``AICMO_HMAC_KEY``), so a link cannot
be altered to unsubscribe someone else or to redirect elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit


class LinkSigner(Protocol):
    """Builds the signed tracking URLs of one message."""

    def open_url(self, campaign_id: int, contact_id: int, channel: str) -> str:
        """URL of the open pixel."""
        ...

    def click_url(self, campaign_id: int, contact_id: int, channel: str, url: str) -> str:
        """URL that records a click and redirects to ``url``."""
        ...

    def unsubscribe_url(self, campaign_id: int, contact_id: int, channel: str) -> str:
        """URL of the one-click unsubscribe (GET shows a page, POST unsubscribes, RFC 8058)."""
        ...


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class HmacLinks:
    """Tracking URLs under ``base_url`` signed with HMAC-SHA256 over (action, campaign, contact, channel, url)."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key.encode()

    def _sig(self, action: str, campaign_id: int, contact_id: int, channel: str, url: str = "") -> str:
        message = "\x1f".join((action, str(campaign_id), str(contact_id), channel, url)).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest()[:16])

    def _url(
        self, path: str, action: str, campaign_id: int, contact_id: int, channel: str, url: str = ""
    ) -> str:
        query = {"c": str(campaign_id), "k": str(contact_id), "ch": channel}
        if url:
            query["u"] = url
        query["s"] = self._sig(action, campaign_id, contact_id, channel, url)
        return f"{self.base_url}/{path}?{urlencode(query)}"

    def open_url(self, campaign_id: int, contact_id: int, channel: str) -> str:
        """URL of the open pixel."""
        return self._url("t/o", "open", campaign_id, contact_id, channel)

    def click_url(self, campaign_id: int, contact_id: int, channel: str, url: str) -> str:
        """URL that records a click and redirects to ``url``."""
        return self._url("t/c", "click", campaign_id, contact_id, channel, url)

    def unsubscribe_url(self, campaign_id: int, contact_id: int, channel: str) -> str:
        """URL of the one-click unsubscribe."""
        return self._url("t/u", "unsubscribe", campaign_id, contact_id, channel)

    def verify(self, url: str) -> dict[str, str] | None:
        """The fields of a URL this signer made, or None if it was altered or is not one of ours."""
        parts = urlsplit(url)
        action = {"/t/o": "open", "/t/c": "click", "/t/u": "unsubscribe"}.get(parts.path)
        query = dict(parse_qsl(parts.query))
        if action is None or not {"c", "k", "ch", "s"} <= query.keys():
            return None
        try:
            expected = self._sig(action, int(query["c"]), int(query["k"]), query["ch"], query.get("u", ""))
        except ValueError:
            return None
        if not hmac.compare_digest(expected, query["s"]):
            return None
        return {"action": action, **{k: v for k, v in query.items() if k != "s"}}


def default_links(base_url: str, key: str) -> HmacLinks:
    """The link signer used when no other is configured (tracking base URL + the HMAC key)."""
    return HmacLinks(base_url, key)
