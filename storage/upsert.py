"""Bulk ``INSERT ... ON CONFLICT`` on SQLite and PostgreSQL, chunked under each driver's limits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import FromClause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Rows per executemany call: bounds memory and lets callers show progress.
_CHUNK_ROWS = 5_000


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def bulk_upsert(
    session: Session,
    table: FromClause,
    rows: Sequence[dict[str, Any]],
    conflict_columns: Sequence[str],
    update_columns: Sequence[str] | None = None,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Insert ``rows``, updating ``update_columns`` of rows whose ``conflict_columns`` exist already.

    Every row must carry the same keys. With ``update_columns`` empty, existing rows are left alone
    (``DO NOTHING``). Returns the number of rows sent; ``on_chunk`` is told each chunk's size.
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert_fn: Any = postgresql.insert
    elif dialect == "sqlite":
        insert_fn = sqlite.insert
    else:
        raise NotImplementedError(f"bulk upsert is not implemented for {dialect}")
    columns = list(rows[0].keys())
    if update_columns is None:
        update_columns = [c for c in columns if c not in conflict_columns]
    stmt = insert_fn(table)
    if update_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={c: stmt.excluded[c] for c in update_columns},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
    # executemany: SQLAlchemy's insertmanyvalues batches the rows into multi-row statements
    # under each driver's parameter limit, without compiling one giant statement per chunk.
    for chunk in _chunks(rows, _CHUNK_ROWS):
        session.execute(stmt, list(chunk))
        if on_chunk is not None:
            on_chunk(len(chunk))
    return len(rows)
