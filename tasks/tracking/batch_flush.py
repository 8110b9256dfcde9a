"""The daily pipeline's tracking step: what the spool and the export inbox hold, into the lake.

A tracking service flushes its own spool every few seconds; this batch pass is for what is left
when none runs on this host (a service that was stopped or killed between flushes, a host that
only receives spool folders) and for provider export files dropped into the inbox
(``<home>/inbox/events/<format>/*.json[l]``, one folder per :data:`FORMATS` entry), which are
imported like ``aicmo events import`` and then moved to ``done/`` beside them. It takes the
spool's owner lock first, so it never drains a spool a running service owns; rerunning it is
safe, since the lake drops events whose id it already holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from aicmo.storage.lake import Lake
from aicmo.storage.spool import Spool, SpoolBusy, SpoolOwnership
from aicmo.tasks.tracking.flusher import Flusher
from aicmo.tasks.tracking.importer import FORMATS, import_events

SERVICE_RUNNING = "a tracking service running on this host owns the spool and flushes it itself"


def _has_segments(folder: Path) -> bool:
    return folder.is_dir() and any(p.name.startswith("seg-") for p in folder.iterdir())


def flush_spool(
    folder: Path, lake: Lake, engine: Engine | None, *, scanner_window_s: float, segment_bytes: int
) -> dict[str, Any]:
    """Move every record left in the spool at ``folder`` into the lake; returns the counts.

    ``{"spool": "empty"}`` when there is nothing, ``{"spool": "busy", "reason": ...}`` when a running
    service owns it.
    """
    if not _has_segments(folder):
        return {"spool": "empty", "segments": 0, "written": 0}
    try:
        owner = SpoolOwnership(folder)
    except SpoolBusy:
        return {"spool": "busy", "reason": SERVICE_RUNNING, "segments": 0, "written": 0}
    try:
        spool = Spool(folder, segment_bytes=segment_bytes)
        try:
            flusher = Flusher(spool, lake, engine, interval_s=1.0, batch=1, scanner_window_s=scanner_window_s)
            done = flusher.flush_once()
        finally:
            spool.close()
    finally:
        owner.release()
    return {
        "spool": "flushed",
        "segments": done.segments,
        "records": done.records,
        "written": done.written,
        "duplicates": done.duplicates,
        "consent_changes": done.consent_changes,
    }


def import_inbox(inbox: Path, lake: Lake, engine: Engine | None) -> dict[str, Any]:
    """Import each export file under ``inbox/<format>/`` and move it to ``done/``; returns the counts.

    A file with bad records is imported for its good ones and its errors are listed (first 20).
    """
    files = written = 0
    errors: list[str] = []
    for fmt in FORMATS:
        folder = inbox / fmt
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file()):
            report = import_events(path, fmt, lake, engine)
            files += 1
            written += report.written
            errors += report.errors
            done = folder / "done"
            done.mkdir(exist_ok=True)
            path.replace(done / path.name)
    return {"files": files, "written": written, "errors": len(errors), "first_errors": errors[:20]}
