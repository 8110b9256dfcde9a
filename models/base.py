"""The one declarative base of the SQL store and the column types every phase's tables share.

Each phase keeps its tables in a module of its own (``models/crm.py``, ``models/publishing.py``,
...); high-volume facts live in the Parquet lake (``models/lake.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.types import TypeDecorator

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every dialect (SQLite drops the zone on the way back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timestamps in UTC with tzinfo")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table in the store."""

    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JsonType, list[str]: JsonType}


# Column types the phases share, written once (SQLAlchemy's ``Annotated`` mapping).
IdPk = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=True)]
"""A surrogate primary key: 64-bit on PostgreSQL, SQLite's INTEGER rowid alias there."""
CreatedAt = Annotated[datetime, mapped_column(default=utcnow)]
"""When a row was created, UTC."""
UpdatedAt = Annotated[datetime, mapped_column(default=utcnow, onupdate=utcnow)]
"""When a row last changed, UTC."""
Str16 = Annotated[str, mapped_column(String(16))]
"""A short code: a channel, a status, a tier."""
Str64 = Annotated[str, mapped_column(String(64))]
"""An identifier-sized string: a provider name, a hash, a source."""
Str255 = Annotated[str, mapped_column(String(255))]
"""A name-sized string."""
