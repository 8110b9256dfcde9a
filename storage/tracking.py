"""Store queries of the tracking service: who a tracked event's contact is."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicmo.models.crm import Contact


def contact_addresses(session: Session, contact_ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """``{contact_id: (email, phone)}`` of the contacts that exist."""
    wanted = list(dict.fromkeys(contact_ids))
    found: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(wanted), 5_000):
        chunk = wanted[start : start + 5_000]
        rows = session.execute(select(Contact.id, Contact.email, Contact.phone).where(Contact.id.in_(chunk)))
        found.update((cid, (email, phone)) for cid, email, phone in rows)
    return found
