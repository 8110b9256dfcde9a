"""The tracking service's event record: what the spool holds and the lake's ``events`` row it becomes.

Every event gets its ``event_id`` when it is received and keeps it through the spool, so a replay
of the spool after a crash writes the same row again and the lake drops it as a duplicate. Events
from a provider take their id from the provider's own event id (``sendgrid:<sg_event_id>``,
``ses:<messageId>:<type>``, ...) or, where a provider has none, from a hash of the event's content,
so a redelivered webhook is the same row too.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from aicmo.models.lake import EVENTS

CONSENT_EVENTS = ("unsubscribe", "complaint", "bounce")
"""Event types that change consent or suppression in the store (bounces only when hard)."""


def content_id(provider: str, event: Any) -> str:
    """A stable id from an event's content, for providers that send no event id."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"{provider}:h:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def new_event_id(prefix: str) -> str:
    """A fresh id for an event the service itself observed (a pixel load, a click)."""
    return f"{prefix}:{uuid.uuid4().hex}"


@dataclass
class TrackedEvent:
    """One observed event. ``address`` and ``hard`` steer suppression; they are not written to the lake."""

    event_id: str
    ts: datetime
    type: str
    channel: str
    provider: str
    campaign_id: int | None = None
    contact_id: int | None = None
    provider_event_id: str | None = None
    is_machine: bool | None = None
    user_agent_class: str | None = None
    url: str | None = None
    address: str | None = None
    hard: bool | None = None
    sent_at: datetime | None = field(default=None)

    def to_bytes(self) -> bytes:
        """The spool record."""
        body = dict(self.__dict__)  # flat fields: no deep copy (asdict) on the hot path
        for name in ("ts", "sent_at"):
            value = body[name]
            body[name] = None if value is None else int(value.timestamp() * 1_000_000)
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> TrackedEvent:
        """The event a spool record holds."""
        body = json.loads(raw)
        for name in ("ts", "sent_at"):
            if body.get(name) is not None:
                body[name] = datetime.fromtimestamp(body[name] / 1_000_000, UTC)
        return cls(**body)

    @property
    def changes_consent(self) -> bool:
        """Whether this event unsubscribes or suppresses someone."""
        return self.type in ("unsubscribe", "complaint") or (self.type == "bounce" and bool(self.hard))


_LAKE_FIELDS = [name for name in EVENTS.names() if name in TrackedEvent.__dataclass_fields__]


def to_frame(events: list[TrackedEvent]) -> pl.DataFrame:
    """Events as rows of the lake's ``events`` table (other columns null)."""
    columns = {name: [getattr(e, name) for e in events] for name in _LAKE_FIELDS}
    return pl.DataFrame(columns, schema={name: EVENTS[name] for name in _LAKE_FIELDS})
