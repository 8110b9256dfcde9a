"""The global suppression list: addresses that must never get marketing, stored as keyed hashes.

A suppression is (HMAC of the normalized address, channel, reason). Email and push suppressions
are keyed by the contact's email, SMS ones by the phone number; channel ``all`` covers every
channel (erasure tombstones use it). Publishing asks :func:`suppressed_contact_ids` before a send.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import get_args

from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.crm import SuppressionChannel, SuppressionReason
from aicmo.settings import get_settings
from aicmo.storage import crm as store
from aicmo.tasks.crm.emails import address_hmac, address_hmacs, normalize_email, normalize_phone

REASONS: tuple[SuppressionReason, ...] = get_args(SuppressionReason)
SUPPRESSION_CHANNELS: tuple[SuppressionChannel, ...] = get_args(SuppressionChannel)


def hmac_key() -> str:
    """The configured HMAC key (never logged)."""
    return get_settings().resolved_hmac_key()


def normalize_address(address: str, channel: str) -> str:
    """The normalized form of ``address`` on ``channel`` (email for email/push/all, phone for sms)."""
    if channel not in SUPPRESSION_CHANNELS:
        raise InputError(f"unknown suppression channel {channel!r}; known: {', '.join(SUPPRESSION_CHANNELS)}")
    if channel == "sms":
        phone = normalize_phone(address)
        if phone is None:
            raise InputError(f"not a phone number: {address!r}")
        return phone
    return normalize_email(address)


def suppress(
    session: Session,
    address: str,
    channel: str,
    reason: str,
    *,
    source: str | None = None,
    key: str | None = None,
) -> bool:
    """Add ``address`` to the suppression list; returns False when it was already suppressed there.

    For email and ``all`` suppressions the matching contact (if any) gets its ``suppressed``
    summary flag set; the list itself stays the source of truth for every channel.
    """
    if reason not in REASONS:
        raise InputError(f"unknown suppression reason {reason!r}; known: {', '.join(REASONS)}")
    normalized = normalize_address(address, channel)
    digest = address_hmac(normalized, key or hmac_key())
    is_new = store.suppression_reason(session, digest, channel) is None
    if is_new:
        store.add_suppression(session, digest, channel, reason, source)
    if channel in ("email", "all"):
        store.flag_contact_suppressed(session, normalized, reason)
    return is_new


def lookup(session: Session, digests: Iterable[str], channels: Sequence[str] = ("all",)) -> dict[str, str]:
    """``{hmac: reason}`` for the digests suppressed on any of ``channels`` (``all`` wins)."""
    found: dict[str, str] = {}
    for digest, channel, reason in store.suppressions_of(session, list(dict.fromkeys(digests)), channels):
        if digest not in found or channel == "all":
            found[digest] = reason
    return found


def is_suppressed(session: Session, address: str, channel: str, *, key: str | None = None) -> str | None:
    """The reason ``address`` is suppressed on ``channel`` (or on all channels), None if it is not."""
    normalized = normalize_address(address, channel)
    digest = address_hmac(normalized, key or hmac_key())
    return lookup(session, [digest], (channel, "all")).get(digest)


def suppressed_contact_ids(
    session: Session, contact_ids: Sequence[int], channel: str, *, key: str | None = None
) -> set[int]:
    """The contacts of a batch whose address is suppressed on ``channel`` or on all channels."""
    key = key or hmac_key()
    blocked: set[int] = set()
    owners: list[int] = []
    addresses: list[str] = []
    for cid, email, phone in store.contact_addresses(session, contact_ids):
        owners.append(cid)
        addresses.append(email)
        if channel == "sms" and phone:
            owners.append(cid)
            addresses.append(phone)
    by_digest: dict[str, list[int]] = {}
    for digest, cid in zip(address_hmacs(addresses, key), owners, strict=True):
        by_digest.setdefault(digest, []).append(cid)
    for digest in lookup(session, by_digest, (channel, "all")):
        blocked.update(by_digest[digest])
    return blocked
