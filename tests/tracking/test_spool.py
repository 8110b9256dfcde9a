"""The spool: fsync'd records survive, a torn tail is ignored, segments are removed only when flushed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from aicmo.storage.lake import Lake
from aicmo.storage.spool import Spool, frame, read_segment
from aicmo.tasks.tracking.events import TrackedEvent
from aicmo.tasks.tracking.flusher import Flusher


def _event(i: int, *, url: str | None = None, ts: datetime | None = None) -> TrackedEvent:
    return TrackedEvent(
        event_id=f"e{i}",
        ts=ts or datetime(2026, 11, 20, 12, 0, i % 60, tzinfo=UTC),
        type="click" if url else "open",
        channel="email",
        provider="pixel",
        campaign_id=1,
        contact_id=i,
        url=url,
        is_machine=False,
    )


def test_records_survive_reopen_and_a_torn_tail_is_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append_many([b"one", b"two"])
    active = spool._active  # a crash: the process dies with the segment open
    with active.open("ab") as fh:  # ... midway through writing a third record
        fh.write(frame(b"three")[:6])
    reopened = Spool(tmp_path)
    assert reopened.sealed() == [active]
    assert read_segment(active) == [b"one", b"two"]
    assert reopened.depth == 2


def test_corrupt_record_ends_the_segment(tmp_path: Path) -> None:
    path = tmp_path / "seg-0000000000000001.log"
    good, bad = frame(b"good"), bytearray(frame(b"flipped"))
    bad[-1] ^= 0xFF
    path.write_bytes(good + bytes(bad) + frame(b"after"))
    assert read_segment(path) == [b"good"]


def test_flush_writes_once_and_a_replay_after_a_crash_adds_nothing(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    spool = Spool(tmp_path / "spool")
    flusher = Flusher(spool, lake, None, interval_s=1, batch=100, scanner_window_s=10)
    events = [_event(i) for i in range(5)]
    spool.append_many([e.to_bytes() for e in events])
    spool.rotate()
    segment = spool.sealed()[0]
    kept = segment.read_bytes()
    assert flusher.flush_once().written == 5
    assert not segment.exists()
    # a crash after the lake write but before the segment was removed: it comes back on restart
    segment.write_bytes(kept)
    spool.append_many([_event(5).to_bytes(), events[0].to_bytes()])  # plus a redelivery
    again = Flusher(Spool(tmp_path / "spool"), lake, None, interval_s=1, batch=100, scanner_window_s=10)
    result = again.flush_once()
    assert (result.records, result.written, result.duplicates) == (7, 1, 6)
    lake_ids = lake.scan("events").collect().get_column("event_id")
    assert lake_ids.sort().to_list() == [f"e{i}" for i in range(6)]


def test_events_of_several_days_go_to_their_partitions(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    spool = Spool(tmp_path / "spool")
    flusher = Flusher(spool, lake, None, interval_s=1, batch=100, scanner_window_s=10)
    days = [datetime(2026, 11, d, 23, 59, tzinfo=UTC) for d in (1, 2, 2)]
    spool.append_many([_event(i, ts=t).to_bytes() for i, t in enumerate(days)])
    flusher.flush_once()
    counts = dict(lake.scan("events").group_by("dt").len().collect().iter_rows())
    assert {str(k): v for k, v in counts.items()} == {"2026-11-01": 1, "2026-11-02": 2}


def test_all_links_at_once_are_flagged_at_flush(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    spool = Spool(tmp_path / "spool")
    flusher = Flusher(spool, lake, None, interval_s=1, batch=100, scanner_window_s=10)
    t = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    burst = [_event(1, url=u, ts=t) for u in ("https://a.example/", "https://b.example/")]
    burst[1].event_id = "e1b"
    spool.append_many([e.to_bytes() for e in [*burst, _event(2, url="https://a.example/", ts=t)]])
    flusher.flush_once()
    flags = lake.scan("events").sort("event_id").collect().select("contact_id", "is_machine")
    assert flags.rows() == [(1, True), (1, True), (2, False)]
    assert flags.filter(pl.col("is_machine")).height == 2
