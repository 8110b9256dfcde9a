"""Tables for the console: one way to render rows, numbers and text from files or APIs.

Every cell is a ``rich.text.Text``, so a value such as ``[/]`` or ``shipit[bot]`` prints as itself
and is never read as console markup. Numbers in one column share one format: whole numbers get
thousands separators, fractions get the same number of decimals down the column (4 when every value
is below 10 in size, else 2). Headers never truncate and text cells fold at the column edge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import polars as pl

MISSING = "-"


def column_format(values: Sequence[Any]) -> int | None:
    """Decimals for a column's fractional numbers: None when it holds none, else 4 or 2."""
    floats = [abs(v) for v in values if isinstance(v, float) and math.isfinite(v)]
    if not floats:
        return None
    return 4 if max(floats) < 10 else 2


def format_value(value: Any, decimals: int | None) -> str:
    """One cell's text, numbers formatted with the column's decimals."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.{decimals}f}" if decimals is not None else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def rows_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    limit: int | None = None,
) -> Table:
    """A table of dict rows; ``limit`` rows at most, with a last row saying how many were left out."""
    names = list(columns or (rows[0].keys() if rows else []))
    shown = list(rows[:limit] if limit is not None else rows)
    table = Table(title=_text(title) if title else None, title_justify="left")
    if not names:
        table.add_column("nothing")
        return table
    formats = {c: column_format([r.get(c) for r in shown]) for c in names}
    for name in names:
        numeric = any(
            isinstance(r.get(name), int | float) and not isinstance(r.get(name), bool) for r in shown
        )
        table.add_column(
            _text(name),
            justify="right" if numeric else "left",
            min_width=len(name),
            overflow="fold",
        )
    for row in shown:
        table.add_row(*(_text(format_value(row.get(c), formats[c])) for c in names))
    if limit is not None and len(rows) > limit:
        table.add_row(*([_text(f"… {len(rows) - limit:,} more")] + [Text("")] * (len(names) - 1)))
    return table


def frame_table(frame: pl.DataFrame, *, title: str | None = None, limit: int | None = None) -> Table:
    """A Polars frame as a table (same formatting rules as ``rows_table``)."""
    return rows_table(frame.to_dicts(), title=title, columns=frame.columns, limit=limit)


def pairs_table(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> Table:
    """A two-column what/value table (summaries), values formatted one by one."""
    table = Table(title=_text(title) if title else None, show_header=False, title_justify="left")
    table.add_column("what", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in pairs:
        decimals = column_format([value])
        table.add_row(_text(key), _text(format_value(value, decimals)))
    return table


def _text(value: str) -> Text:
    return Text(str(value))
