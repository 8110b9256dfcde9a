"""The scheduled daily run flags the generator's injected bounce spike on the day it happens.

The daily chain aggregates a two-day window; the trend step must still see the weeks of history
its same-weekday baseline needs (KPIs of earlier days, written by earlier runs), and report and
write only the window's days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aicmo import wiring
from aicmo.models.publishing import Campaign
from aicmo.storage.db import transaction
from aicmo.storage.migrate import ensure_schema
from aicmo.tasks.analytics.kpis import recompute_daily_kpis
from aicmo.tasks.sample import GroundTruth, generate_dataset

END = date(2026, 10, 31)


@pytest.mark.slow
def test_daily_run_on_the_spike_day_flags_it(aicmo_home: Path, prefect_harness: None) -> None:
    from aicmo.flows.daily import daily_pipeline

    engine, lake = wiring.engine(), wiring.lake()
    ensure_schema(engine)
    generate_dataset(engine, lake, contacts=3000, days=91, seed=7, end=END, assets_dir=aicmo_home / "assets")
    truth = GroundTruth.read(aicmo_home / "truth.json")
    day = truth.anomaly_day
    assert END - day >= timedelta(days=28)  # the spike is mid-window: weeks of history before it
    # earlier scheduled runs wrote the KPIs of the days before this run's window
    with transaction(engine) as session:
        known = sorted(session.scalars(select(Campaign.id)))
    earlier = [d for d in lake.partitions("events") if d < day - timedelta(days=1)]
    recompute_daily_kpis(lake, earlier, known, datetime.now(UTC))
    kpi_days_before = set(lake.partitions("kpis_daily"))

    result = daily_pipeline(run_date=day, sync_revenue=False)

    flagged = result["aggregate"]["anomalies"]
    spike = [a for a in flagged if a["day"] == day.isoformat() and a["scope"] == "email"]
    assert "bounce_rate" in {a["metric"] for a in spike}, flagged
    window = {day - timedelta(days=1), day}
    assert {date.fromisoformat(a["day"]) for a in flagged} <= window  # only the run's days are reported
    assert set(lake.partitions("kpis_daily")) - kpi_days_before == window  # and only they are written
