"""Deleting one person's rows from every phase's tables (the store half of an erasure).

Each phase that keeps rows keyed by ``contact_id`` lists its tables in ``PERSONAL_TABLES``; an
erasure deletes from all of them and then the contact itself, in the caller's transaction.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete
from sqlalchemy.orm import Session

from aicmo.models.analytics import TierChange
from aicmo.models.crm import Consent, Contact, LifecycleChange
from aicmo.models.publishing import OutboxMessage, PushEndpoint

# (report name, table with a contact_id column), child tables before ``contacts``.
PERSONAL_TABLES: tuple[tuple[str, Any], ...] = (
    ("consents", Consent),
    ("lifecycle_changes", LifecycleChange),
    ("tier_changes", TierChange),
    ("outbox_messages", OutboxMessage),
    ("push_endpoints", PushEndpoint),
)


def deleted_rows(session: Session, statement: Delete) -> int:
    """Run a DELETE and return how many rows it removed."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount)


def delete_person_rows(session: Session, contact_id: int) -> dict[str, int]:
    """Delete ``contact_id``'s rows from every personal table and the contact; rows removed by table."""
    removed = {
        name: deleted_rows(session, delete(model).where(model.contact_id == contact_id))
        for name, model in PERSONAL_TABLES
    }
    removed["contacts"] = deleted_rows(session, delete(Contact).where(Contact.id == contact_id))
    return removed
