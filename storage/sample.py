"""The sample generator's bulk writes: its companies, creative assets and where they are used.

Contacts and campaigns go through their phases' repositories (``storage/crm.py``,
``storage/campaigns.py``); this module holds the rest of what ``tasks/sample`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aicmo.models.crm import Company
from aicmo.models.media import Asset, AssetUsage
from aicmo.storage.db import transaction
from aicmo.storage.upsert import bulk_upsert


def upsert_sample_companies(engine: Engine, rows: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    """Insert or update companies by domain; returns ``(domain, id)`` of every sample company."""
    with transaction(engine) as session:
        bulk_upsert(session, Company.__table__, rows, ("domain",))
        found = session.execute(select(Company.domain, Company.id).where(Company.source == "sample"))
        return [(domain, cid) for domain, cid in found]


def upsert_assets(engine: Engine, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert or update assets by content hash (every given column updated); returns ``{sha256: id}``."""
    if not rows:
        return {}
    with transaction(engine) as session:
        bulk_upsert(session, Asset.__table__, rows, ("sha256",), [c for c in rows[0] if c != "sha256"])
        query = select(Asset.sha256, Asset.id).where(Asset.sha256.in_([r["sha256"] for r in rows]))
        return {sha: asset_id for sha, asset_id in session.execute(query)}


def add_asset_usage(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Record assets used by campaigns on channels (rows already there are left alone)."""
    bulk_upsert(session, AssetUsage.__table__, rows, ("asset_id", "campaign_id", "channel"), [])
