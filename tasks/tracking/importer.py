"""``aicmo events import``: provider event exports -> the same parsers as the webhooks -> the lake.

A file is a JSON array or JSON lines of one provider's events (SendGrid events, Mailgun
``event-data`` or whole webhook bodies, Postmark records, SES notifications or SNS envelopes,
Twilio status callbacks or Message resources). Each bad record gets one line naming the file and
line; the good ones go through. Event ids are the webhooks' ids, so importing a file twice, or a
file that overlaps what the service received, adds nothing twice. Unsubscribes, complaints and
hard bounces change consent and suppression as they do live.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.tasks.tracking.consent_sync import apply_events
from aicmo.tasks.tracking.events import TrackedEvent, to_frame
from aicmo.tasks.tracking.flusher import TABLE, write_new_events
from aicmo.tasks.tracking.webhooks import mailgun, postmark, sendgrid, ses, twilio
from aicmo.tasks.tracking.webhooks.base import Rejected, iso

BATCH = 20_000


def _twilio(item: Any) -> list[TrackedEvent]:
    """A status callback's parameters, or a Message resource from the REST API / console export."""
    if isinstance(item, dict) and "MessageStatus" not in item and "status" in item:
        item = {
            "MessageSid": item.get("sid"),
            "MessageStatus": item.get("status"),
            "To": item.get("to"),
            "ErrorCode": item.get("error_code"),
            "Timestamp": item.get("date_updated") or item.get("date_sent"),
        }
    if not isinstance(item, dict):
        raise Rejected("malformed_event", 400, "a Twilio record is a JSON object")
    stamp = item.get("Timestamp")
    if not stamp:
        raise Rejected("malformed_event", 400, "a Twilio record needs a time (Timestamp or date_updated)")
    try:
        when = parsedate_to_datetime(stamp).astimezone(UTC) if "," in str(stamp) else iso(stamp)
    except (TypeError, ValueError):
        raise Rejected("malformed_event", 400, f"not a time: {stamp!r}") from None
    return twilio.parse_event(item, received_at=when)


PARSERS: dict[str, Callable[[Any], list[TrackedEvent]]] = {
    "sendgrid": sendgrid.parse_event,
    "mailgun": mailgun.parse_event,
    "postmark": postmark.parse_event,
    "ses": ses.parse_event,
    "twilio": _twilio,
}
FORMATS = tuple(PARSERS)


@dataclass
class ImportReport:
    """What an import did."""

    records: int = 0
    events: int = 0
    written: int = 0
    skipped: int = 0
    consent_changes: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """Events the lake already had."""
        return self.events - self.written


def _records(path: Path) -> Iterator[tuple[int, Any | Exception]]:
    """``(line, parsed value or the error)`` of each record of a JSON array or JSON-lines file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    stripped = text.lstrip()
    if not stripped.startswith("["):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError as exc:
                    yield number, exc
        return
    decoder = json.JSONDecoder()
    pos = len(text) - len(stripped) + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            yield text.count("\n", 0, pos) + 1, ValueError("the array is not closed with ]")
            return
        if text[pos] == "]":
            return
        at = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            yield at, exc
            return  # the rest of an array cannot be found once one element is broken
        yield at, value


def import_events(path: Path, fmt: str, lake: Lake, engine: Engine | None) -> ImportReport:
    """Import ``path`` (``fmt`` one of :data:`FORMATS`) into the lake; returns the report."""
    if fmt not in PARSERS:
        raise InputError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    parse = PARSERS[fmt]
    report = ImportReport()
    batch: list[TrackedEvent] = []

    def flush() -> None:
        if not batch:
            return
        if engine is not None:
            report.consent_changes += apply_events(engine, batch)
        added = write_new_events(lake, to_frame(batch))
        report.written += sum(p.height for p in added.values())
        if added and engine is not None:
            with transaction(engine) as session:
                record_partitions(session, TABLE, {d: p.height for d, p in added.items()})
        batch.clear()

    for line, value in _records(path):
        report.records += 1
        if isinstance(value, Exception):
            report.errors.append(f"{path}:{line}: not JSON: {value}")
            continue
        try:
            events = parse(value)
        except Rejected as exc:
            report.errors.append(f"{path}:{line}: {exc}")
            continue
        if not events:
            report.skipped += 1
        report.events += len(events)
        batch.extend(events)
        if len(batch) >= BATCH:
            flush()
    flush()
    return report
