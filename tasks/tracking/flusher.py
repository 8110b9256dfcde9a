"""The flusher: sealed spool segments -> lake partitions, atomically, exactly once.

Each pass seals the active segment, reads every sealed one, re-applies their consent changes
(idempotent, in case the process died between spooling an unsubscribe and committing it), flags
scanner bursts, drops events the lake already holds, writes each touched day partition atomically
(temp file + rename, under the table lock), records the written days for the incremental KPIs and
only then removes the segments. A crash anywhere replays the segments and lands nothing twice,
since every event's id was fixed when it was received.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import Engine

from aicmo.models.lake import TABLES, LakeTable
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake, conform, table_lock
from aicmo.storage.runs import record_partitions
from aicmo.storage.spool import Spool, read_segment
from aicmo.tasks.tracking.consent_sync import apply_events
from aicmo.tasks.tracking.events import TrackedEvent, to_frame
from aicmo.tasks.tracking.machine import flag_link_bursts
from aicmo.tasks.tracking.metrics import TrackingMetrics
from aicmo.tasks.tracking.variants import with_variants

log = logging.getLogger(__name__)
TABLE = "events"


@dataclass
class FlushResult:
    """What one pass did."""

    segments: int = 0
    records: int = 0
    written: int = 0
    duplicates: int = 0
    consent_changes: int = 0


def write_new_events(lake: Lake, frame: pl.DataFrame) -> dict[date, pl.DataFrame]:
    """Add the rows of ``frame`` whose ``event_id`` the lake lacks; returns the new rows per day.

    Each day partition is read, extended and rewritten atomically under the table's lock, so
    another writer's rows between the read and the rename are not lost.
    """
    frame = conform(frame, lake_table()).unique(subset=["event_id"], keep="first", maintain_order=True)
    added: dict[date, pl.DataFrame] = {}
    with table_lock(lake, TABLE):
        by_day = frame.with_columns(pl.col("ts").dt.date().alias("__dt")).partition_by(
            "__dt", as_dict=True, include_key=False
        )
        for (day,), part in sorted(by_day.items(), key=lambda kv: kv[0]):
            assert isinstance(day, date)
            if lake.fs.exists(lake.partition_path(TABLE, day)):
                existing = lake.read_partition(TABLE, day)
                part = part.filter(~pl.col("event_id").is_in(existing.get_column("event_id").implode()))
                if part.is_empty():
                    continue
                lake.write_partition(TABLE, day, pl.concat([existing, part]), mode="overwrite")
            else:
                lake.write_partition(TABLE, day, part, mode="overwrite")
            added[day] = part
    return added


def lake_table() -> LakeTable:
    """The lake's events table spec."""
    return TABLES[TABLE]


class Flusher:
    """Moves the spool into the lake every ``interval_s`` or as soon as ``batch`` events wait."""

    def __init__(
        self,
        spool: Spool,
        lake: Lake,
        engine: Engine | None,
        *,
        interval_s: float,
        batch: int,
        scanner_window_s: float,
        metrics: TrackingMetrics | None = None,
    ) -> None:
        self.spool = spool
        self.lake = lake
        self.engine = engine
        self.interval_s = interval_s
        self.batch = batch
        self.scanner_window_s = scanner_window_s
        self.metrics = metrics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def flush_once(self) -> FlushResult:
        """One pass; raises (leaving the segments for the next pass) if the lake or store fails."""
        with self._lock:
            started = time.perf_counter()
            self.spool.rotate()
            segments = self.spool.sealed()
            result = FlushResult(segments=len(segments))
            if not segments:
                return result
            events: list[TrackedEvent] = []
            for path in segments:
                for raw in read_segment(path):
                    try:
                        events.append(TrackedEvent.from_bytes(raw))
                    except (ValueError, TypeError):
                        log.error("unreadable spool record in %s skipped", path.name)
            result.records = len(events)
            if self.engine is not None:
                result.consent_changes = apply_events(self.engine, events)
            if events:
                frame = flag_link_bursts(to_frame(events), self.scanner_window_s)
                if self.engine is not None:
                    frame = with_variants(self.engine, frame)
                added = write_new_events(self.lake, frame)
                result.written = sum(p.height for p in added.values())
                result.duplicates = result.records - result.written
                if added and self.engine is not None:
                    with transaction(self.engine) as session:
                        record_partitions(session, TABLE, {d: p.height for d, p in added.items()})
                if self.metrics is not None:
                    for part in added.values():
                        for kind, n in part.group_by("type").len().iter_rows():
                            self.metrics.written.labels(kind).inc(n)
                    self.metrics.duplicates.inc(result.duplicates)
            self.spool.remove(segments)
            if self.metrics is not None:
                self.metrics.flush_seconds.observe(time.perf_counter() - started)
            return result

    def nudge(self) -> None:
        """Called after appends: flush early once a batch's worth of events waits."""
        if self.spool.active_records >= self.batch:
            self._wake.set()

    def _run(self) -> None:
        delay = self.interval_s
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            try:
                self.flush_once()
                delay = self.interval_s
            except Exception:  # keep the service up; the segments stay for the next pass
                log.exception("flush failed; retrying")
                if self.metrics is not None:
                    self.metrics.flush_errors.inc()
                delay = min(max(delay * 2, self.interval_s), 60.0)

    def start(self) -> None:
        """Run passes in a background thread."""
        self._thread = threading.Thread(target=self._run, name="tracking-flusher", daemon=True)
        self._thread.start()

    def stop(self, *, final_flush: bool = True) -> None:
        """Stop the thread; by default flush what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if final_flush:
            self.flush_once()
