"""KPIs keep raw opens and clicks and add the human ones (machine opens, scanner clicks left out)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from aicmo.storage.lake import Lake
from aicmo.storage.spool import Spool
from aicmo.tasks.analytics.kpis import aggregate_kpis, daily_kpis
from aicmo.tasks.tracking.events import TrackedEvent
from aicmo.tasks.tracking.flusher import Flusher


def test_human_counts_beside_raw_counts_from_the_tracked_lake(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    spool = Spool(tmp_path / "spool")
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    rows = [
        ("open", False, None),
        ("open", True, None),  # Apple MPP
        ("open", True, None),
        ("click", False, "https://a.example/"),
        ("click", True, "https://b.example/"),  # scanner
        ("deliver", None, None),
    ]
    spool.append_many(
        [
            TrackedEvent(
                f"e{i}", at, kind, "email", "pixel", 5, 100 + i, is_machine=machine, url=url
            ).to_bytes()
            for i, (kind, machine, url) in enumerate(rows)
        ]
    )
    Flusher(spool, lake, None, interval_s=1, batch=10, scanner_window_s=0).flush_once()
    kpis = daily_kpis(lake.scan("events")).collect()
    got = kpis.select("opens", "human_opens", "clicks", "human_clicks", "deliveries").row(0)
    assert got == (3, 1, 2, 1, 1)


def test_events_without_the_machine_column_count_as_human() -> None:
    events = pl.LazyFrame(
        {
            "event_id": ["a", "b"],
            "ts": [datetime(2026, 11, 20, tzinfo=UTC)] * 2,
            "contact_id": [1, 2],
            "campaign_id": [1, 1],
            "channel": ["email", "email"],
            "type": ["open", "click"],
            "revenue": [None, None],
            "cost": [None, None],
        },
        schema_overrides={"revenue": pl.Float64, "cost": pl.Float64},
    )
    overall = aggregate_kpis(events, []).collect()
    assert overall.select("opens", "human_opens", "clicks", "human_clicks").row(0) == (1, 1, 1, 1)
