"""Saved segments: store a checked definition by name, read it back, count and sample its contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.crm import Contact, Segment
from aicmo.storage.upsert import bulk_upsert
from aicmo.tasks.crm.segments import FIELD_TYPES, compile_sql, parse

SAMPLE_COLUMNS = ("id", "email", "first_name", "last_name", "lifecycle_stage", "tier", "engagement_score")


def save_segment(session: Session, name: str, definition: Any, description: str | None = None) -> None:
    """Check ``definition`` and store it under ``name`` (replacing an older one)."""
    if not name.strip():
        raise InputError("a segment needs a name")
    parse(definition)
    if isinstance(definition, dict) and "where" in definition:
        description = description or definition.get("description")
    now = utcnow()
    row = {
        "name": name,
        "definition": definition,
        "description": description,
        "created_at": now,
        "updated_at": now,
    }
    bulk_upsert(session, Segment.__table__, [row], ("name",), ["definition", "description", "updated_at"])


def get_segment(session: Session, name: str) -> Any:
    """The stored definition of segment ``name``; InputError naming the known ones if missing."""
    definition = session.scalar(select(Segment.definition).where(Segment.name == name))
    if definition is None:
        known = ", ".join(session.scalars(select(Segment.name).order_by(Segment.name))) or "none saved"
        raise InputError(f"no segment named {name!r} (known: {known})")
    return definition


def list_segments(session: Session) -> list[Segment]:
    """Every saved segment, by name."""
    return list(session.scalars(select(Segment).order_by(Segment.name)))


@dataclass(frozen=True)
class Preview:
    """How many contacts a segment holds, and a few of them."""

    count: int
    total: int
    sample: pl.DataFrame


def preview(engine: Engine, definition: Any, *, sample: int = 10, now: datetime | None = None) -> Preview:
    """Count the segment's contacts in the store and fetch a sample (lowest ids first)."""
    where = compile_sql(definition, now=now)
    cols = [getattr(Contact, c) for c in SAMPLE_COLUMNS]
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Contact).where(where)) or 0
        total = conn.scalar(select(func.count()).select_from(Contact)) or 0
        rows = conn.execute(select(*cols).where(where).order_by(Contact.id).limit(sample)).all()
    frame = pl.DataFrame([tuple(r) for r in rows], schema=list(SAMPLE_COLUMNS), orient="row")
    return Preview(count, total, frame)


def segment_contact_ids(engine: Engine, definition: Any, *, now: datetime | None = None) -> list[int]:
    """Ids of the segment's contacts (for flows that target a segment)."""
    with engine.connect() as conn:
        return list(
            conn.scalars(select(Contact.id).where(compile_sql(definition, now=now)).order_by(Contact.id))
        )


_POLARS_TYPES: dict[type, pl.DataType] = {
    str: pl.String(),
    float: pl.Float64(),
    int: pl.Int64(),
    bool: pl.Boolean(),
    datetime: pl.Datetime("us", "UTC"),
}


def contacts_schema() -> pl.Schema:
    """The Polars schema of a contacts frame that segments can filter."""
    return pl.Schema({**{f: _POLARS_TYPES[t] for f, t in FIELD_TYPES.items()}, "tags": pl.List(pl.String)})


def contacts_frame(engine: Engine, *, batch_size: int = 50_000) -> pl.DataFrame:
    """Every contact's segmentable columns as a Polars frame (for bulk evaluation and analytics)."""
    schema = contacts_schema()
    cols = [getattr(Contact, c) for c in schema.names()]
    parts: list[pl.DataFrame] = []
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=batch_size).execute(select(*cols).order_by(Contact.id))
        for chunk in result.partitions():
            parts.append(pl.DataFrame([tuple(r) for r in chunk], schema=schema, orient="row"))
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)
