"""``contacts import``: validate a CSV row by row, merge in-file duplicates, upsert what changed.

Bad rows are reported (row number, field, reason) and counted, never silently dropped; the good
rows still go in. Rows are compared with the stored contacts first, so importing the same file
twice changes nothing (not even ``updated_at``). Addresses erased earlier (an HMAC tombstone in
the suppression list) are skipped and counted; other suppressed addresses are imported flagged.
"""

from __future__ import annotations

import csv
import gc
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, insert, literal, null, select
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.crm import Contact, LifecycleChange
from aicmo.models.runs import AuditRecord
from aicmo.progress import Advance
from aicmo.settings import get_settings
from aicmo.storage.db import transaction
from aicmo.storage.repositories import upsert_contacts
from aicmo.tasks.crm.csv_reading import CsvTable, read_csv
from aicmo.tasks.crm.emails import address_hmacs, normalize_email, normalize_phone
from aicmo.tasks.crm.lifecycle import can_transition, parse_stage
from aicmo.tasks.crm.suppression import hmac_key, lookup

ProgressFactory = Callable[[str, int], AbstractContextManager[Advance]]
PROFILE_FIELDS = ("first_name", "last_name", "phone", "company_name", "city", "country")
_MAX_LEN = {"first_name": 255, "last_name": 255, "company_name": 255, "city": 255, "country": 64}
_TAG_SPLIT = re.compile(r"[,;|]")
_LOOKUP_CHUNK = 5_000


@dataclass(frozen=True)
class RowError:
    """A rejected row: its number in the file (the header is row 1), the field and why."""

    row: int
    field: str
    reason: str


@dataclass
class ImportReport:
    """What an import did, in counts (no personal data)."""

    file: str
    encoding: str = ""
    delimiter: str = ""
    rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    duplicates_merged: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_erased: int = 0
    flagged_suppressed: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    errors_path: str | None = None

    def counts(self) -> dict[str, int]:
        """The numeric outcome, for printing and audit records."""
        return {
            "rows": self.rows,
            "valid_rows": self.valid_rows,
            "invalid_rows": self.invalid_rows,
            "duplicates_merged": self.duplicates_merged,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped_erased": self.skipped_erased,
            "flagged_suppressed": self.flagged_suppressed,
        }


@dataclass
class _Record:
    """A validated row (or several merged rows) for one normalized email."""

    email: str
    rows: list[int]
    values: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    stage: str | None = None

    def merge(self, other: _Record) -> None:
        """Later non-empty values win; tags are united in order of appearance."""
        self.rows.extend(other.rows)
        self.values.update(other.values)
        self.tags = list(dict.fromkeys([*self.tags, *other.tags]))
        self.stage = other.stage or self.stage


def _split_name(full: str) -> tuple[str | None, str | None]:
    if "," in full:
        last, first = (p.strip() for p in full.split(",", 1))
    else:
        parts = full.split(None, 1)
        first, last = parts[0], (parts[1] if len(parts) > 1 else "")
    return first or None, last or None


def validate_record(row_no: int, cells: list[str], table: CsvTable) -> tuple[_Record | None, list[RowError]]:
    """Validate one data row; returns the record or the row's errors (every bad field is named)."""
    errors: list[RowError] = []
    if len(cells) > len(table.header) and any(c.strip() for c in cells[len(table.header) :]):
        reason = f"has {len(cells)} fields, the header has {len(table.header)}"
        return None, [RowError(row_no, "(row)", reason)]
    raw = {f: (cells[i].strip() if i < len(cells) else "") for i, f in table.columns.items()}
    email = None
    try:
        email = normalize_email(raw.get("email", ""))
    except InputError as exc:
        errors.append(RowError(row_no, "email", str(exc)))
    values: dict[str, str] = {}
    full = raw.pop("full_name", "")
    if full and not raw.get("first_name") and not raw.get("last_name"):
        first, last = _split_name(full)
        raw["first_name"], raw["last_name"] = first or "", last or ""
    for name in PROFILE_FIELDS:
        value = raw.get(name, "")
        if not value:
            continue
        if name == "phone":
            phone = normalize_phone(value)
            if phone is None:
                errors.append(RowError(row_no, "phone", "not a phone number (6-15 digits, optional +)"))
                continue
            value = phone
        elif len(value) > _MAX_LEN[name]:
            errors.append(RowError(row_no, name, f"longer than {_MAX_LEN[name]} characters"))
            continue
        if name == "country" and len(value) == 2:
            value = value.upper()
        values[name] = value
    stage = None
    if raw.get("lifecycle_stage"):
        try:
            stage = parse_stage(raw["lifecycle_stage"])
        except InputError as exc:
            errors.append(RowError(row_no, "lifecycle_stage", str(exc)))
    tags = [t.strip() for t in _TAG_SPLIT.split(raw.get("tags", "")) if t.strip()]
    if errors or email is None:
        return None, errors
    return _Record(email, [row_no], values, list(dict.fromkeys(tags)), stage), []


def _existing(engine: Engine, emails: Sequence[str]) -> dict[str, dict[str, Any]]:
    cols = [Contact.email, Contact.id, *(getattr(Contact, f) for f in PROFILE_FIELDS)]
    cols += [Contact.tags, Contact.lifecycle_stage, Contact.lifecycle_changed_at]
    cols += [Contact.suppressed, Contact.suppression_reason]
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for start in range(0, len(emails), _LOOKUP_CHUNK):
            chunk = list(emails[start : start + _LOOKUP_CHUNK])
            result = conn.execute(select(*cols).where(Contact.email.in_(chunk)))
            keys = list(result.keys())
            # Rows zipped with the column names once per chunk: building a mapping per row is slow.
            for values in result:
                row = dict(zip(keys, values, strict=True))
                found[row["email"]] = row
    return found


def _suppressions(engine: Engine, emails: Sequence[str]) -> dict[str, str]:
    key = hmac_key()
    digests = dict(zip(address_hmacs(emails, key), emails, strict=True))
    with transaction(engine) as session:
        found = lookup(session, digests, ("email", "all"))
    return {digests[d]: reason for d, reason in found.items()}


def _record_initial_stages(session: Session, emails: Sequence[str], now: datetime) -> None:
    """One ``None -> stage`` lifecycle row per new contact, copied inside the database.

    ``INSERT ... SELECT`` over the just-written contacts (in id order) instead of reading their
    ids back and sending one parameter set per contact.
    """
    changes = cast(Table, LifecycleChange.__table__)
    for chunk in _chunks(emails, _LOOKUP_CHUNK):
        source = (
            select(
                Contact.id,
                null(),
                Contact.lifecycle_stage,
                literal("import", changes.c.reason.type),
                literal(now, changes.c.changed_at.type),
            )
            .where(Contact.email.in_(list(chunk)))
            .order_by(Contact.id)
        )
        columns = ["contact_id", "from_stage", "to_stage", "reason", "changed_at"]
        session.execute(insert(changes).from_select(columns, source))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while an import holds ~10 objects per row.

    The rows are plain lists, dicts and strings freed by reference counting; with the collector on,
    its full passes rescan all of them again and again (about a second per 100,000 rows).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_errors(path: Path, errors: Sequence[RowError]) -> None:
    """The errors CSV: one line per bad field (row, field, reason), sorted by row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "field", "reason"])
        writer.writerows((e.row, e.field, e.reason) for e in sorted(errors, key=lambda e: e.row))
    tmp.replace(path)


def import_contacts(
    engine: Engine,
    path: Path,
    *,
    errors_path: Path | None = None,
    batch_size: int | None = None,
    source: str | None = None,
    progress: ProgressFactory | None = None,
) -> ImportReport:
    """Import a contacts CSV into the store; returns the counts and the row errors.

    Bad rows go to ``errors_path`` (default ``<file>.errors.csv`` next to the file) when there are
    any. Good rows are written in transactions of ``batch_size`` contacts.
    """
    with _collector_paused():
        return _import_contacts(engine, path, errors_path, batch_size, source, progress)


def _import_contacts(
    engine: Engine,
    path: Path,
    errors_path: Path | None,
    batch_size: int | None,
    source: str | None,
    progress: ProgressFactory | None,
) -> ImportReport:
    batch_size = batch_size or get_settings().batch_size
    bar: ProgressFactory = progress or (lambda _d, _t: nullcontext(lambda n=1: None))
    table = read_csv(path)
    report = ImportReport(file=path.name, encoding=table.encoding, delimiter=table.delimiter)
    report.ignored_columns = table.ignored
    records: dict[str, _Record] = {}
    with bar("validating", len(table.records)) as advance:
        for start in range(0, len(table.records), batch_size):
            for offset, cells in enumerate(table.records[start : start + batch_size]):
                row_no = start + offset + table.first_data_row
                unreadable = table.broken.get(start + offset)
                if unreadable is not None:
                    report.rows += 1
                    report.invalid_rows += 1
                    report.errors.append(RowError(row_no, "(row)", f"not imported: {unreadable}"))
                    continue
                if not any(c.strip() for c in cells):
                    continue
                report.rows += 1
                record, errors = validate_record(row_no, cells, table)
                if record is None:
                    report.invalid_rows += 1
                    report.errors.extend(errors)
                elif record.email in records:
                    records[record.email].merge(record)
                    report.duplicates_merged += 1
                else:
                    records[record.email] = record
            advance(min(batch_size, len(table.records) - start))
    report.valid_rows = report.rows - report.invalid_rows
    emails = list(records)
    suppressed = _suppressions(engine, emails)
    existing = _existing(engine, emails)
    now = utcnow()
    src = source or f"import:{path.name}"
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    stage_changes: list[tuple[int, str, str]] = []
    for email, rec in records.items():
        reason = suppressed.get(email)
        if reason == "erased":
            report.skipped_erased += 1
            continue
        old = existing.get(email)
        if old is None:
            row: dict[str, Any] = {"email": email, **{f: rec.values.get(f) for f in PROFILE_FIELDS}}
            row |= {"tags": rec.tags, "source": src, "lifecycle_stage": rec.stage or "subscriber"}
            row |= {"lifecycle_changed_at": now, "suppressed": reason is not None}
            row["suppression_reason"] = reason
            inserts.append(row)
            report.flagged_suppressed += reason is not None
            continue
        new = {f: rec.values.get(f) or old[f] for f in PROFILE_FIELDS}
        new["tags"] = list(dict.fromkeys([*(old["tags"] or []), *rec.tags]))
        new["lifecycle_stage"] = old["lifecycle_stage"]
        new["lifecycle_changed_at"] = old["lifecycle_changed_at"]
        if rec.stage and rec.stage != old["lifecycle_stage"]:
            if not can_transition(old["lifecycle_stage"], rec.stage):
                report.errors.append(
                    RowError(
                        rec.rows[-1],
                        "lifecycle_stage",
                        f"cannot move the contact from {old['lifecycle_stage']!r} to {rec.stage!r}",
                    )
                )
                report.invalid_rows += 1
                report.valid_rows -= 1
                continue
            new["lifecycle_stage"], new["lifecycle_changed_at"] = rec.stage, now
            stage_changes.append((old["id"], old["lifecycle_stage"], rec.stage))
        new["suppressed"] = old["suppressed"] or reason is not None
        new["suppression_reason"] = old["suppression_reason"] or reason
        if all(new[k] == old[k] for k in new):
            report.unchanged += 1
            continue
        updates.append({"email": email, **new})
    with bar("writing", len(inserts) + len(updates)) as advance:
        for chunk in _chunks(inserts, batch_size):
            with transaction(engine) as session:
                upsert_contacts(session, chunk)
                _record_initial_stages(session, [r["email"] for r in chunk], now)
            report.inserted += len(chunk)
            advance(len(chunk))
        for chunk in _chunks(updates, batch_size):
            with transaction(engine) as session:
                upsert_contacts(session, chunk)
            report.updated += len(chunk)
            advance(len(chunk))
    with transaction(engine) as session:
        if stage_changes:
            session.execute(
                insert(cast(Table, LifecycleChange.__table__)),
                [
                    {"contact_id": cid, "from_stage": a, "to_stage": b, "reason": "import", "changed_at": now}
                    for cid, a, b in stage_changes
                ],
            )
        session.add(AuditRecord(action="contacts.import", details={"file": path.name, **report.counts()}))
    if report.errors:
        target = errors_path or path.with_name(f"{path.stem}.errors.csv")
        write_errors(target, report.errors)
        report.errors_path = str(target)
    return report
