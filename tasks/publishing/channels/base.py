"""The one interface every channel adapter implements, and the verdicts it returns.

A sender opens a channel once per run, hands it windows of envelopes (each a rendered message
to one recipient address, with the ledger row's idempotency key) and gets one ``Verdict`` per
envelope: ``sent`` (the provider accepted it, with its message id), ``unknown`` (handed over
but the answer was lost), ``failed_transient`` (try again later), ``failed_permanent`` (never
will work; optionally the address is suppressed or the endpoint dropped), or ``pending`` (never
left, e.g. a halt before it was tried). A ``ChannelHalt`` stops the whole campaign (bad
credentials): retrying other recipients would only fail the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from aicmo.models.publishing import FAILED_PERMANENT, FAILED_TRANSIENT, PENDING, SENT, UNKNOWN
from aicmo.storage.publishing import AssetFile
from aicmo.tasks.publishing.templates import Rendered


@dataclass(frozen=True)
class Envelope:
    """One message for one address, as a channel receives it."""

    row_id: int
    campaign_id: int
    contact_id: int | None
    idempotency_key: str
    address: str  # email, E.164 number, device token, push endpoint, webhook URL; "" for social
    message: Rendered
    unsubscribe_url: str = ""  # the one-click unsubscribe link, on the channels that carry one (email)
    open_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # web push keys (p256dh, auth)
    assets: tuple[AssetFile, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """What became of one envelope."""

    state: str
    provider_message_id: str | None = None
    error: str | None = None
    reason: str | None = None
    retry_after_s: float | None = None
    suppress: bool = False  # the address is dead (hard bounce): add it to the suppression list
    drop_endpoint: bool = False  # the device token / subscription is gone: delete it

    @classmethod
    def sent(cls, message_id: str | None) -> Verdict:
        """Accepted by the provider."""
        return cls(SENT, provider_message_id=message_id)

    @classmethod
    def transient(cls, error: str, retry_after_s: float | None = None) -> Verdict:
        """Not accepted this time; safe to try again."""
        return cls(FAILED_TRANSIENT, error=error, retry_after_s=retry_after_s)

    @classmethod
    def permanent(
        cls, error: str, reason: str, *, suppress: bool = False, drop_endpoint: bool = False
    ) -> Verdict:
        """Refused for good."""
        return cls(
            FAILED_PERMANENT, error=error, reason=reason, suppress=suppress, drop_endpoint=drop_endpoint
        )

    @classmethod
    def unknown(cls, error: str) -> Verdict:
        """Handed over, answer lost: may or may not have been delivered; never resent on its own."""
        return cls(UNKNOWN, error=error, reason="answer_lost")

    @classmethod
    def not_tried(cls, error: str | None = None) -> Verdict:
        """Never left (halt): back to pending."""
        return cls(PENDING, error=error)


class ChannelHalt(Exception):
    """The campaign must stop on this channel (refused credentials); the message says what to fix.

    ``verdicts`` holds one verdict per envelope of the window that was being sent (those not
    reached are ``pending``), so the ledger is settled right before the campaign stops.
    """

    def __init__(self, message: str, verdicts: list[Verdict] | None = None) -> None:
        super().__init__(message)
        self.verdicts: list[Verdict] = verdicts or []


class Channel(Protocol):
    """A delivery channel: opened once per run, given windows of envelopes, closed at the end."""

    name: str

    async def open(self) -> None:
        """Connect (or check configuration); raise ChannelHalt when it can never work."""
        ...

    async def send(self, envelopes: list[Envelope]) -> list[Verdict]:
        """Deliver a window of envelopes; one verdict per envelope, in order."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class Pacer(Protocol):
    """Hands out send slots at ``rate`` per second: ``acquire`` returns when the next one is due."""

    rate: float

    async def acquire(self) -> None:
        """Wait for the next slot."""
        ...


@runtime_checkable
class Paced(Protocol):
    """A channel that waits on a pacer before each message; a sender may give it a shared one."""

    pacer: Pacer
