"""``contacts export``: contacts to a CSV that is safe to open in a spreadsheet, and the registry of
every export the project wrote (so erasure can find and rewrite them).

Cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a carriage
return) are prefixed with an apostrophe, as OWASP recommends; phone numbers like ``+49...``
therefore read ``'+49...``, which spreadsheets show as text.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine

from aicmo.models.base import utcnow
from aicmo.settings import get_settings
from aicmo.storage.crm import contact_rows

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "phone",
    "company_name",
    "city",
    "country",
    "tags",
    "lifecycle_stage",
    "tier",
    "email_consent",
    "sms_consent",
    "suppressed",
)
REGISTRY_NAME = "exports.jsonl"


def neutralize(cell: str) -> str:
    """``cell`` made inert for spreadsheets: a leading formula character gets an apostrophe."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def unneutralize(cell: str) -> str:
    """The original value of a neutralized cell."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_PREFIXES) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    elif isinstance(value, bool):
        value = "true" if value else "false"
    return neutralize(str(value))


def registry_path(home: Path | None = None) -> Path:
    """The export registry: one JSON line per file written (path, rows, time; no personal data)."""
    return (home or get_settings().home) / REGISTRY_NAME


def register_export(path: Path, rows: int, kind: str = "contacts", *, home: Path | None = None) -> None:
    """Remember that ``path`` holds exported contacts (one appended line; POSIX appends are atomic)."""
    reg = registry_path(home)
    reg.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"path": str(path.resolve()), "rows": rows, "kind": kind, "at": utcnow().isoformat()})
    with reg.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def registered_exports(home: Path | None = None) -> list[Path]:
    """Every registered export that still exists, each once."""
    reg = registry_path(home)
    if not reg.exists():
        return []
    paths = [Path(json.loads(line)["path"]) for line in reg.read_text(encoding="utf-8").splitlines() if line]
    return [p for p in dict.fromkeys(paths) if p.exists()]


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and how many contacts it holds."""

    path: Path
    rows: int


def write_atomic_csv(path: Path, header: Sequence[str], rows: Iterator[Sequence[Any]]) -> int:
    """Write a UTF-8 CSV through a temporary file and a rename; returns data rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    n = 0
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                n += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def export_contacts(
    engine: Engine,
    path: Path,
    *,
    where: ColumnElement[bool] | None = None,
    batch_size: int = 10_000,
    on_rows: Callable[[int], None] | None = None,
    home: Path | None = None,
) -> ExportResult:
    """Write the contacts (all, or those matching ``where``) to ``path`` and register the file."""

    def cells() -> Iterator[list[str]]:
        for i, row in enumerate(contact_rows(engine, EXPORT_COLUMNS, where=where, batch=batch_size), 1):
            if on_rows is not None and i % batch_size == 0:
                on_rows(batch_size)
            yield [_cell(v) for v in row]

    n = write_atomic_csv(path, EXPORT_COLUMNS, cells())
    register_export(path, n, home=home)
    return ExportResult(path, n)


def remove_from_exports(email: str, *, home: Path | None = None) -> dict[str, int]:
    """Rewrite each registered export without the rows of ``email``; returns ``{path: rows removed}``."""
    removed: dict[str, int] = {}
    for path in registered_exports(home):
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or "email" not in header:
                continue
            col = header.index("email")
            rows = list(reader)
        kept = [r for r in rows if col >= len(r) or unneutralize(r[col]) != email]
        if len(kept) != len(rows):
            write_atomic_csv(path, header, iter(kept))
            removed[str(path)] = len(rows) - len(kept)
    return removed
