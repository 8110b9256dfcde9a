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
from typing import Any

from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.progress import Advance
from aicmo.settings import get_settings
from aicmo.storage import crm as store
from aicmo.storage.db import transaction
from aicmo.storage.runs import audit
from aicmo.tasks.crm.csv_reading import CsvTable, read_csv
from aicmo.tasks.crm.emails import address_hmacs, normalize_email, normalize_phone
from aicmo.tasks.crm.lifecycle import can_transition, parse_stage, record_stage_changes
from aicmo.tasks.crm.suppression import hmac_key, lookup

ProgressFactory = Callable[[str, int], AbstractContextManager[Advance]]
PROFILE_FIELDS = ("first_name", "last_name", "phone", "company_name", "city", "country")
_MAX_LEN = {"first_name": 255, "last_name": 255, "company_name": 255, "city": 255, "country": 64}
_TAG_SPLIT = re.compile(r"[,;|]")
# What an import compares a row with: the stored profile, tags, stage and suppression flags.
_STORED_FIELDS = (
    "id",
    *PROFILE_FIELDS,
    "tags",
    "lifecycle_stage",
    "lifecycle_changed_at",
    "suppressed",
    "suppression_reason",
)


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


def _suppressions(engine: Engine, emails: Sequence[str]) -> dict[str, str]:
    key = hmac_key()
    digests = dict(zip(address_hmacs(emails, key), emails, strict=True))
    with transaction(engine) as session:
        found = lookup(session, digests, ("email", "all"))
    return {digests[d]: reason for d, reason in found.items()}


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
    records = _validate_rows(table, batch_size, report, bar)
    emails = list(records)
    plan = _plan_writes(
        records,
        _suppressions(engine, emails),
        store.contact_fields_by_email(engine, emails, _STORED_FIELDS),
        utcnow(),
        source or f"import:{path.name}",
        report,
    )
    _write_plan(engine, plan, batch_size, report, bar)
    with transaction(engine) as session:
        record_stage_changes(session, plan.stage_changes, "import", plan.now)
        audit(session, "contacts.import", {"file": path.name, **report.counts()})
    if report.errors:
        target = errors_path or path.with_name(f"{path.stem}.errors.csv")
        write_errors(target, report.errors)
        report.errors_path = str(target)
    return report


def _validate_rows(
    table: CsvTable, batch_size: int, report: ImportReport, bar: ProgressFactory
) -> dict[str, _Record]:
    """Validate every data row, merging rows of the same email; bad rows go to ``report.errors``."""
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
    return records


@dataclass
class _WritePlan:
    """What an import will write: new contacts, changed contacts, lifecycle moves, all as of ``now``."""

    now: datetime
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    stage_changes: list[tuple[int, str, str]] = field(default_factory=list)


def _plan_writes(
    records: dict[str, _Record],
    suppressed: dict[str, str],
    existing: dict[str, dict[str, Any]],
    now: datetime,
    source: str,
    report: ImportReport,
) -> _WritePlan:
    """Compare each record with its stored contact: insert, update, leave alone, skip or reject."""
    plan = _WritePlan(now)
    for email, rec in records.items():
        reason = suppressed.get(email)
        if reason == "erased":
            report.skipped_erased += 1
            continue
        old = existing.get(email)
        if old is None:
            plan.inserts.append(_new_contact_row(rec, source, now, reason))
            report.flagged_suppressed += reason is not None
            continue
        new = _merged_contact_row(rec, old, now, reason, plan, report)
        if new is None:
            continue
        if all(new[k] == old[k] for k in new):
            report.unchanged += 1
            continue
        plan.updates.append({"email": email, **new})
    return plan


def _new_contact_row(rec: _Record, source: str, now: datetime, reason: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"email": rec.email, **{f: rec.values.get(f) for f in PROFILE_FIELDS}}
    row |= {"tags": rec.tags, "source": source, "lifecycle_stage": rec.stage or "subscriber"}
    row |= {"lifecycle_changed_at": now, "suppressed": reason is not None}
    row["suppression_reason"] = reason
    return row


def _merged_contact_row(
    rec: _Record,
    old: dict[str, Any],
    now: datetime,
    reason: str | None,
    plan: _WritePlan,
    report: ImportReport,
) -> dict[str, Any] | None:
    """The stored contact with the record's values merged in; None (and a row error) for a bad stage move."""
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
            return None
        new["lifecycle_stage"], new["lifecycle_changed_at"] = rec.stage, now
        plan.stage_changes.append((old["id"], old["lifecycle_stage"], rec.stage))
    new["suppressed"] = old["suppressed"] or reason is not None
    new["suppression_reason"] = old["suppression_reason"] or reason
    return new


def _write_plan(
    engine: Engine, plan: _WritePlan, batch_size: int, report: ImportReport, bar: ProgressFactory
) -> None:
    """Write new and changed contacts in transactions of ``batch_size``; new ones get their first stage."""
    with bar("writing", len(plan.inserts) + len(plan.updates)) as advance:
        for chunk in _chunks(plan.inserts, batch_size):
            with transaction(engine) as session:
                store.upsert_contacts(session, chunk)
                store.copy_initial_stages(session, [r["email"] for r in chunk], "import", plan.now)
            report.inserted += len(chunk)
            advance(len(chunk))
        for chunk in _chunks(plan.updates, batch_size):
            with transaction(engine) as session:
                store.upsert_contacts(session, chunk)
            report.updated += len(chunk)
            advance(len(chunk))
