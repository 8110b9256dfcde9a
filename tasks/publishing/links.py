"""Tracking links of a message: open pixel, click redirect, one-click unsubscribe.

Publishing takes any ``LinkSigner``; the configured one is the tracking service's
(``aicmo.tasks.tracking.tokens.TrackingLinks``): each URL carries a token signed over what it is
about, so a link cannot be altered to unsubscribe someone else or to redirect elsewhere, and the
service that receives it verifies it with the same keys.
"""

from __future__ import annotations

from typing import Protocol

from aicmo.settings import TrackingSettings
from aicmo.tasks.tracking.tokens import TrackingLinks


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


def tracking_links(settings: TrackingSettings | None = None) -> LinkSigner:
    """The configured signer: the tracking service's tokens, which ``aicmo serve`` verifies."""
    return TrackingLinks(settings)
