"""Small builders shared by the CRM tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from aicmo.storage.db import transaction
from aicmo.storage.repositories import contact_ids_by_email, upsert_contacts


def add_contacts(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert contacts (each row needs an ``email``); returns ``{email: id}``."""
    keys = sorted({k for r in rows for k in r})
    full = [{k: r.get(k) for k in keys} for r in rows]
    for r in full:
        if "tags" in r and r["tags"] is None:
            r["tags"] = []
    with transaction(engine) as session:
        upsert_contacts(session, full)
        return contact_ids_by_email(session, [r["email"] for r in rows])
