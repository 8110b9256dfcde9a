"""Campaign lookups the phases share: upsert by name, every id, names for reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aicmo.models.publishing import Campaign
from aicmo.storage.upsert import bulk_upsert


def upsert_campaigns(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert or update campaigns by name; returns ``{name: id}``."""
    bulk_upsert(session, Campaign.__table__, rows, ("name",))
    names = [r["name"] for r in rows]
    return {
        n: i for n, i in session.execute(select(Campaign.name, Campaign.id).where(Campaign.name.in_(names)))
    }


def campaign_ids(engine: Engine) -> list[int]:
    """Every campaign id in the store, ascending (lake events naming another id are unknown)."""
    with engine.connect() as conn:
        return sorted(conn.scalars(select(Campaign.id)))


def campaign_names(engine: Engine) -> dict[int, str]:
    """Every campaign's name by id (for reports)."""
    with engine.connect() as conn:
        return {cid: name for cid, name in conn.execute(select(Campaign.id, Campaign.name))}
