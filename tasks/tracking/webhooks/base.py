"""What every provider module shares: the request view, rejections, field helpers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aicmo.tasks.tracking.events import TrackedEvent, content_id

CAMPAIGN_KEY = "aicmo_campaign_id"
CONTACT_KEY = "aicmo_contact_id"


class Rejected(Exception):
    """A webhook request refused: ``reason`` is the metric label, ``status`` the HTTP answer."""

    def __init__(self, reason: str, status: int = 401, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class WebhookRequest:
    """A received webhook: lower-cased headers, the raw body, the public URL it was sent to."""

    headers: Mapping[str, str]
    body: bytes
    url: str
    content_type: str

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive)."""
        return self.headers.get(name.lower())


def json_body(body: bytes) -> Any:
    """The body parsed as JSON; malformed JSON is a 400."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("malformed_json", 400) from None


def require_json(request: WebhookRequest) -> None:
    """A JSON endpoint refuses other content types with 415."""
    if request.content_type.split(";")[0].strip().lower() != "application/json":
        raise Rejected("content_type", 415)


def obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (payload fields are untrusted)."""
    return value if isinstance(value, dict) else {}


def as_int(value: Any) -> int | None:
    """An id carried as int or digit string (metadata values are often strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, list) and value:
        return as_int(value[0])  # SES tags are lists of strings
    return None


def ids_from(meta: Any) -> tuple[int | None, int | None]:
    """``(campaign_id, contact_id)`` from a metadata mapping."""
    if not isinstance(meta, Mapping):
        return None, None
    return as_int(meta.get(CAMPAIGN_KEY)), as_int(meta.get(CONTACT_KEY))


def epoch(value: Any) -> datetime:
    """A UTC time from epoch seconds (int, float or numeric string)."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Rejected("malformed_event", 400, f"not an epoch timestamp: {value!r}") from None


def iso(value: Any) -> datetime:
    """A UTC time from an ISO 8601 string (with Z or an offset; more than 6 fraction digits allowed)."""
    if not isinstance(value, str):
        raise Rejected("malformed_event", 400, f"not a timestamp: {value!r}")
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # .NET writes 7 fraction digits; Python takes at most 6
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected("malformed_event", 400, f"not a timestamp: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_fresh(ts: datetime, now: datetime, tolerance_s: int) -> None:
    """A signed timestamp too far from now is refused (replays of captured requests)."""
    if abs((now - ts).total_seconds()) > tolerance_s:
        raise Rejected("stale_timestamp", 401)


def scanner_flag(agent: str | None) -> bool | None:
    """Whether a user-agent class says a machine (a link scanner) made the event; None when unknown."""
    return (agent == "scanner") if agent else None


def email_event(
    provider: str,
    kind: str,
    ts: datetime,
    *,
    provider_id: str | None,
    content: Any,
    campaign_id: int | None,
    contact_id: int | None,
    agent: str | None,
    is_machine: bool | None,
    url: Any = None,
    address: Any = None,
    hard: bool | None = None,
) -> TrackedEvent:
    """An email provider's event in the one tracked shape, the same way for every provider.

    The key is the provider's own event id, else a hash of ``content``; the URL is kept on clicks
    and the hard flag on bounces only; values of the wrong type (a non-string link) are dropped.
    """
    return TrackedEvent(
        event_id=f"{provider}:{provider_id}" if provider_id else content_id(provider, content),
        ts=ts,
        type=kind,
        channel="email",
        provider=provider,
        campaign_id=campaign_id,
        contact_id=contact_id,
        provider_event_id=provider_id,
        is_machine=is_machine,
        user_agent_class=agent,
        url=url if kind == "click" and isinstance(url, str) else None,
        address=address if isinstance(address, str) else None,
        hard=hard if kind == "bounce" else None,
    )
