"""Analytics repository: the SQL the analytics tasks need, behind named functions.

- when each lake partition of a table was written (incremental KPI recomputation);
- the contacts' current tiers, and the bulk write of scores onto contacts with their tier-change
  history, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

import polars as pl
from sqlalchemy import Engine, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from aicmo.models.analytics import TierChange
from aicmo.models.crm import Contact
from aicmo.models.lake import schema
from aicmo.models.runs import LakePartitionState

CHUNK_ROWS = 20_000
CURRENT_TIERS_SCHEMA = schema(
    {"contact_id": pl.Int64, "old_tier": pl.String, "old_tier_changed_at": pl.Datetime("us", "UTC")}
)


def partition_write_times(session: Session, table: str) -> dict[date, datetime]:
    """When each day partition of lake table ``table`` was last written (as recorded)."""
    rows = session.execute(
        select(LakePartitionState.dt, LakePartitionState.written_at).where(
            LakePartitionState.table_name == table
        )
    )
    return {dt: at for dt, at in rows}


def current_tiers(engine: Engine) -> pl.DataFrame:
    """Every contact's ``contact_id``, ``old_tier`` and ``old_tier_changed_at``."""
    contacts = cast(Table, Contact.__table__)
    with engine.connect() as conn:
        rows = conn.execute(select(contacts.c.id, contacts.c.tier, contacts.c.tier_changed_at)).all()
    return pl.DataFrame(rows, schema=CURRENT_TIERS_SCHEMA, orient="row")


def _chunks(rows: Sequence[dict[str, Any]]) -> list[Sequence[dict[str, Any]]]:
    return [rows[i : i + CHUNK_ROWS] for i in range(0, len(rows), CHUNK_ROWS)]


def write_contact_scores(
    engine: Engine,
    columns: Sequence[str],
    updates: Sequence[dict[str, Any]],
    tier_changes: Sequence[dict[str, Any]],
) -> None:
    """Update ``columns`` of contacts by id and insert ``tier_changes`` rows, in one transaction.

    Each update row has ``b_id``, ``b_<column>`` for every column, ``b_tier_changed_at`` and
    ``b_scored_at`` (one ``executemany`` UPDATE by primary key per chunk). A killed run leaves the
    old scores or the new ones, never a mix.
    """
    contacts = cast(Table, Contact.__table__)
    stmt = (
        update(contacts)
        .where(contacts.c.id == bindparam("b_id"))
        .values(
            {
                **{col: bindparam(f"b_{col}") for col in columns},
                "tier_changed_at": bindparam("b_tier_changed_at"),
                "scored_at": bindparam("b_scored_at"),
                "updated_at": bindparam("b_scored_at"),
            }
        )
    )
    with engine.begin() as conn:
        for chunk in _chunks(updates):
            conn.execute(stmt, list(chunk))
        for chunk in _chunks(tier_changes):
            conn.execute(insert(cast(Table, TierChange.__table__)), list(chunk))
