"""``contacts import``: validate a CSV row by row, merge in-file duplicates, upsert what changed.

Bad rows are reported (row number, field, reason) and counted, never silently dropped; the good
rows still go in. Rows are compared with the stored contacts first, so importing the same file
twice changes nothing (not even ``updated_at``). Addresses erased earlier (an HMAC tombstone in
the suppression list) are skipped and counted; other suppressed addresses are imported flagged.

Subscription columns of other tools' exports (Keila, Ghost, listmonk, Mautic, Mailchimp; see
``export_status``) are applied with the contacts, in the same transaction per batch: an opt-out
withdraws the email consent and suppresses the address with its reason, an opt-in records the
consent with its times. An import never undoes an opt-out: a contact whose consent was withdrawn
stays withdrawn whatever a file says.
"""

from __future__ import annotations

import csv
import gc
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.progress import Advance
from aicmo.settings import get_settings
from aicmo.storage import crm as store
from aicmo.storage.db import transaction
from aicmo.storage.runs import audit
from aicmo.tasks.crm.csv_reading import CsvTable, header_key, read_csv
from aicmo.tasks.crm.emails import address_hmacs, normalize_email, normalize_phone
from aicmo.tasks.crm.export_status import (
    CONFIRMED,
    KNOWN_COLUMNS,
    PENDING,
    WITHDRAWN,
    EmailStatus,
    email_status,
)
from aicmo.tasks.crm.lifecycle import can_transition, parse_stage, record_stage_changes
from aicmo.tasks.crm.suppression import hmac_key, lookup

ProgressFactory = Callable[[str, int], AbstractContextManager[Advance]]
PROFILE_FIELDS = ("first_name", "last_name", "phone", "company_name", "city", "country")
_MAX_LEN = {"first_name": 255, "last_name": 255, "company_name": 255, "city": 255, "country": 64}
_TAG_SPLIT = re.compile(r"[,;|]")
_RATING_TAG = "member_rating:"
# What an import compares a row with: the stored profile, tags, stage and suppression flags.
_STORED_FIELDS = (
    "id",
    *PROFILE_FIELDS,
    "tags",
    "lifecycle_stage",
    "lifecycle_changed_at",
    "suppressed",
    "suppression_reason",
    "email_consent",
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
    opted_out: int = 0
    consents_recorded: int = 0
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
            "opted_out": self.opted_out,
            "consents_recorded": self.consents_recorded,
        }


@dataclass
class _Record:
    """A validated row (or several merged rows) for one normalized email."""

    email: str
    rows: list[int]
    values: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    stage: str | None = None
    status: EmailStatus | None = None

    def merge(self, other: _Record) -> None:
        """Later non-empty values win; tags are united in order of appearance; an opt-out in any row wins."""
        self.rows.extend(other.rows)
        self.values.update(other.values)
        self.tags = list(dict.fromkeys([*self.tags, *other.tags]))
        self.stage = other.stage or self.stage
        self.status = _merged_status(self.status, other.status)


def _merged_status(first: EmailStatus | None, later: EmailStatus | None) -> EmailStatus | None:
    """Two rows of one address: the later row's status, except that a withdrawal or suppression stays."""
    if first is None or later is None:
        return later or first
    consent = WITHDRAWN if WITHDRAWN in (first.consent, later.consent) else later.consent or first.consent
    return EmailStatus(
        consent,
        later.suppression or first.suppression,
        later.opted_in_at or first.opted_in_at,
        later.confirmed_at or first.confirmed_at,
        later.tags or first.tags,
    )


def status_columns(header: Sequence[str], mapped: dict[int, str]) -> dict[int, str]:
    """Column index -> ``header_key`` of the subscription-status columns (``export_status``) of a header."""
    return {
        i: header_key(name)
        for i, name in enumerate(header)
        if i not in mapped and header_key(name) in KNOWN_COLUMNS
    }


def _split_name(full: str) -> tuple[str | None, str | None]:
    if "," in full:
        last, first = (p.strip() for p in full.split(",", 1))
    else:
        parts = full.split(None, 1)
        first, last = parts[0], (parts[1] if len(parts) > 1 else "")
    return first or None, last or None


def validate_record(
    row_no: int, cells: list[str], table: CsvTable, statuses: dict[int, str] | None = None
) -> tuple[_Record | None, list[RowError]]:
    """Validate one data row; returns the record or the row's errors (every bad field is named).

    ``statuses`` (from :func:`status_columns`) are the columns read as the row's subscription status.
    """
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
    status = None
    if statuses:
        status, error = _row_status(row_no, cells, table, statuses)
        if error is not None:
            errors.append(error)
        elif status is not None:
            tags.extend(status.tags)
    if errors or email is None:
        return None, errors
    return _Record(email, [row_no], values, list(dict.fromkeys(tags)), stage, status), []


@lru_cache(maxsize=65_536)
def _status_of(cells: tuple[tuple[str, str], ...]) -> EmailStatus:
    """:func:`email_status` of one row's status cells, once per distinct combination.

    Exports repeat a handful of status words over thousands of rows; only rows with their own
    timestamps (Mailchimp's) are worked out each time.
    """
    return email_status(dict(cells))


def _row_status(
    row_no: int, cells: list[str], table: CsvTable, statuses: dict[int, str]
) -> tuple[EmailStatus | None, RowError | None]:
    """The row's subscription status (None when its status cells say nothing), or the error naming the column."""
    found = tuple((key, cells[i]) for i, key in statuses.items() if i < len(cells) and cells[i].strip())
    if not found:
        return None, None
    try:
        status = _status_of(found)
    except InputError as exc:
        key, _, reason = str(exc).partition(": ")
        column = next((table.header[i] for i, k in statuses.items() if k == key), key)
        return None, RowError(row_no, column, reason or str(exc))
    return (status if status.says_anything else None), None


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
    read_as_status = {table.header[i] for i in status_columns(table.header, table.columns)}
    report.ignored_columns = [name for name in table.ignored if name not in read_as_status]
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
    statuses = status_columns(table.header, table.columns)
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
                record, errors = validate_record(row_no, cells, table, statuses)
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
    source: str = ""
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    stage_changes: list[tuple[int, str, str]] = field(default_factory=list)
    # email -> the email consent row to write (status, times, token), for consents that change
    consents: dict[str, dict[str, Any]] = field(default_factory=dict)
    # email -> suppression reason, for addresses the file opts out that the list does not hold yet
    suppressions: dict[str, str] = field(default_factory=dict)


def _plan_writes(
    records: dict[str, _Record],
    suppressed: dict[str, str],
    existing: dict[str, dict[str, Any]],
    now: datetime,
    source: str,
    report: ImportReport,
) -> _WritePlan:
    """Compare each record with its stored contact: insert, update, leave alone, skip or reject."""
    plan = _WritePlan(now, source)
    for email, rec in records.items():
        listed = suppressed.get(email)
        if listed == "erased":
            report.skipped_erased += 1
            continue
        reason = listed or (rec.status.suppression if rec.status else None)
        old = existing.get(email)
        if old is None:
            row = _new_contact_row(rec, source, now, reason)
            plan.inserts.append(row)
            report.flagged_suppressed += listed is not None
        else:
            merged = _merged_contact_row(rec, old, now, reason, plan, report)
            if merged is None:
                continue
            row = merged
            if all(row[k] == old[k] for k in row):
                report.unchanged += 1
            else:
                plan.updates.append({"email": email, **row})
        if rec.status is not None:
            _plan_status(plan, rec, old["email_consent"] if old else "none", row["email_consent"], listed)
            report.opted_out += rec.status.suppression is not None or rec.status.consent == WITHDRAWN
    report.consents_recorded = len(plan.consents)
    return plan


def consent_after(stored: str, from_file: str | None) -> str:
    """The email consent a contact has after an import: a file never undoes an opt-out or a confirmation."""
    if from_file is None or stored == WITHDRAWN:
        return stored
    if from_file == PENDING and stored == CONFIRMED:
        return stored
    return from_file


def _plan_status(plan: _WritePlan, rec: _Record, stored: str, decided: str, listed: str | None) -> None:
    """Plan the consent row (when the consent changes) and the suppression (when the list lacks it)."""
    status = rec.status
    assert status is not None
    if decided != stored:
        plan.consents[rec.email] = {
            "channel": "email",
            "status": decided,
            "source": plan.source[:64],
            "text_version": None,
            "requested_at": status.opted_in_at or (None if decided == WITHDRAWN else plan.now),
            "confirmed_at": status.confirmed_at,
            "confirmation_token": secrets.token_urlsafe(24) if decided == PENDING else None,
        }
    reason = status.suppression or ("unsubscribe" if decided == WITHDRAWN else None)
    if reason is not None and listed is None:
        plan.suppressions[rec.email] = reason


def _new_contact_row(rec: _Record, source: str, now: datetime, reason: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"email": rec.email, **{f: rec.values.get(f) for f in PROFILE_FIELDS}}
    row |= {"tags": rec.tags, "source": source, "lifecycle_stage": rec.stage or "subscriber"}
    row |= {"lifecycle_changed_at": now, "suppressed": reason is not None}
    row["suppression_reason"] = reason
    row["email_consent"] = consent_after("none", rec.status.consent if rec.status else None)
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
    kept = old["tags"] or []
    if any(t.startswith(_RATING_TAG) for t in rec.tags):  # a newer rating replaces the stored one
        kept = [t for t in kept if not t.startswith(_RATING_TAG)]
    new["tags"] = list(dict.fromkeys([*kept, *rec.tags]))
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
    new["email_consent"] = consent_after(old["email_consent"], rec.status.consent if rec.status else None)
    return new


def _write_plan(
    engine: Engine, plan: _WritePlan, batch_size: int, report: ImportReport, bar: ProgressFactory
) -> None:
    """Write new and changed contacts in transactions of ``batch_size``; new ones get their first stage.

    Each batch's consents and suppressions go in the same transaction as its contacts, so a killed
    import never leaves a contact marked withdrawn without the suppression that stops its mail.
    """
    with bar("writing", len(plan.inserts) + len(plan.updates)) as advance:
        for chunk in _chunks(plan.inserts, batch_size):
            with transaction(engine) as session:
                store.upsert_contacts(session, chunk)
                emails = [r["email"] for r in chunk]
                store.copy_initial_stages(session, emails, "import", plan.now)
                _write_statuses(session, plan, emails)
            report.inserted += len(chunk)
            advance(len(chunk))
        for chunk in _chunks(plan.updates, batch_size):
            with transaction(engine) as session:
                store.upsert_contacts(session, chunk)
                _write_statuses(session, plan, [r["email"] for r in chunk])
            report.updated += len(chunk)
            advance(len(chunk))
    # Unchanged contacts whose address the list lacks (e.g. a suppression removed by hand).
    rest = list({**plan.consents, **plan.suppressions})
    for leftover in _chunks(rest, batch_size):
        with transaction(engine) as session:
            _write_statuses(session, plan, leftover)


def _write_statuses(session: Session, plan: _WritePlan, emails: Sequence[str]) -> None:
    """Write (and take out of the plan) the consents and suppressions planned for ``emails``."""
    consents = {e: plan.consents.pop(e) for e in emails if e in plan.consents}
    suppressions = {e: plan.suppressions.pop(e) for e in emails if e in plan.suppressions}
    if consents:
        ids = store.contact_ids_by_email(session, list(consents))
        rows = [{"contact_id": ids[e], **row} for e, row in consents.items() if e in ids]
        withdrawn = [r for r in rows if r["status"] == WITHDRAWN]
        # A withdrawal keeps the opt-in and confirmation times an existing consent has.
        store.upsert_consents(session, withdrawn, ["status", "source", "confirmation_token"])
        store.upsert_consents(session, [r for r in rows if r["status"] != WITHDRAWN])
    if suppressions:
        digests = address_hmacs(suppressions, hmac_key())
        store.add_suppressions(
            session,
            [
                {"address_hmac": d, "channel": "email", "reason": reason, "source": plan.source[:64]}
                for d, reason in zip(digests, suppressions.values(), strict=True)
            ],
        )
