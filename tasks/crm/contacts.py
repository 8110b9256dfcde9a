"""Finding a contact by what a user types: an email address, normalized the way the store keeps it."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.crm import Contact
from aicmo.storage import crm as store
from aicmo.tasks.crm.emails import normalize_email


def find_contact_id(engine: Engine, email: str) -> int:
    """The id of the contact with ``email`` (any case, Unicode or punycode domain); InputError if none."""
    normalized = normalize_email(email)
    cid = store.contact_id_for_email(engine, normalized)
    if cid is None:
        raise InputError(f"no contact with email {normalized}")
    return cid


def get_contact(session: Session, contact_id: int) -> Contact:
    """The contact with ``contact_id``; InputError if there is none."""
    contact = store.contact_by_id(session, contact_id)
    if contact is None:
        raise InputError(f"no contact with id {contact_id}")
    return contact
