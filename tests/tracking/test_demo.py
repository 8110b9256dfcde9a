"""The demo's engagement: recipients through a running service, counted the same in the lake and KPIs."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pydantic import SecretStr
from sqlalchemy import Engine

from aicmo.settings import Settings, TrackingSettings
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.kpis import aggregate_kpis
from aicmo.tasks.tracking.demo import serve_in_background, simulate_engagement
from tests.crm.helpers import add_contacts


def test_simulated_engagement_reaches_lake_and_kpis(tmp_path: Path, sqlite_engine: Engine) -> None:
    ids = add_contacts(sqlite_engine, [{"email": f"r{i}@example.com"} for i in range(200)])
    tracking = TrackingSettings(
        keys=[SecretStr("demo-tracking-key-0123456789")], spool_dir=tmp_path / "spool"
    )
    settings = Settings(home=tmp_path / "home", tracking=tracking)
    lake = Lake(str(tmp_path / "lake"))
    with serve_in_background(settings, sqlite_engine, lake) as url:
        report = simulate_engagement(url, 3, sorted(ids.values()), tracking=tracking, unsubscribe_rate=0.05)
    assert report.failed == 0
    assert report.opens > 40 and report.machine_opens > 5 and report.scanner_clicks > 0
    events = lake.scan("events").collect()  # the shutdown flushed the spool
    kpis = aggregate_kpis(events.lazy(), ["campaign_id"]).collect().row(0, named=True)
    assert kpis["opens"] == report.opens
    assert kpis["human_opens"] == report.human_opens
    assert kpis["clicks"] == report.clicks
    assert kpis["human_clicks"] == report.human_clicks
    assert kpis["unsubscribes"] == report.unsubscribes > 0
    assert events.filter(pl.col("type") == "click").get_column("url").is_not_null().all()
