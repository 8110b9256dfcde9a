"""Saved segments: store a checked definition by name, read it back, count and sample its contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.crm import Segment
from aicmo.storage import crm as store
from aicmo.tasks.crm.segments import FIELD_TYPES, compile_sql, parse

SAMPLE_COLUMNS = ("id", "email", "first_name", "last_name", "lifecycle_stage", "tier", "engagement_score")


def save_segment(session: Session, name: str, definition: Any, description: str | None = None) -> None:
    """Check ``definition`` and store it under ``name`` (replacing an older one)."""
    if not name.strip():
        raise InputError("a segment needs a name")
    parse(definition)
    if isinstance(definition, dict) and "where" in definition:
        description = description or definition.get("description")
    store.upsert_segment(session, name, definition, description)


def get_segment(session: Session, name: str) -> Any:
    """The stored definition of segment ``name``; InputError naming the known ones if missing."""
    definition = store.segment_definition(session, name)
    if definition is None:
        known = ", ".join(s.name for s in store.segments(session)) or "none saved"
        raise InputError(f"no segment named {name!r} (known: {known})")
    return definition


def list_segments(session: Session) -> list[Segment]:
    """Every saved segment, by name."""
    return store.segments(session)


@dataclass(frozen=True)
class Preview:
    """How many contacts a segment holds, and a few of them."""

    count: int
    total: int
    sample: pl.DataFrame


def preview(engine: Engine, definition: Any, *, sample: int = 10, now: datetime | None = None) -> Preview:
    """Count the segment's contacts in the store and fetch a sample (lowest ids first)."""
    where = compile_sql(definition, now=now)
    count = store.count_contacts(engine, where)
    total = store.count_contacts(engine)
    rows = store.first_contact_rows(engine, SAMPLE_COLUMNS, where, sample)
    frame = pl.DataFrame(rows, schema=list(SAMPLE_COLUMNS), orient="row")
    return Preview(count, total, frame)


def segment_contact_ids(engine: Engine, definition: Any, *, now: datetime | None = None) -> list[int]:
    """Ids of the segment's contacts (for flows that target a segment)."""
    return store.contact_ids_where(engine, compile_sql(definition, now=now))


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
    rows = [tuple(r) for r in store.contact_rows(engine, schema.names(), batch=batch_size)]
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
