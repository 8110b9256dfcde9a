"""The aggregate flow end to end on a small lake: incremental KPIs, bad data, attribution, anomalies, CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from aicmo import wiring
from aicmo.cli.commands.analytics import app as analytics_app
from aicmo.cli.console import console
from aicmo.models.publishing import Campaign
from aicmo.storage.db import transaction
from aicmo.storage.migrate import ensure_schema
from aicmo.storage.runs import record_partitions
from tests.analytics.kpi_helpers import D1, EventLog, at, spend, synthetic_events

DAYS = 56
SPIKE = D1 + timedelta(days=38)  # a Thursday


@pytest.fixture
def kpi_lake(aicmo_home: Path) -> Path:
    """Eight weeks of events for two campaigns in the default lake, plus a few bad rows."""
    engine = wiring.engine()
    ensure_schema(engine)
    with transaction(engine) as session:
        session.add_all(
            [Campaign(id=1, name="spring", channel="email"), Campaign(id=2, name="ads", channel="ads")]
        )
    events = synthetic_events(D1, DAYS, seed=5, spike=SPIKE)
    bad = EventLog()
    bad.add("open", 3, at(D1 + timedelta(days=3), 9), campaign=77, event_id="bad-unknown")
    bad.add("convert", 3, at(D1 + timedelta(days=4), 9), revenue=-10.0, event_id="bad-refund")
    events = pl.concat([events, bad.frame()])
    written = wiring.lake().write("events", events)
    wiring.lake().write("ad_spend", spend([(D1 + timedelta(days=i), 2, 25.0) for i in range(DAYS)]))
    with transaction(engine) as session:
        record_partitions(session, "events", written)
    return aicmo_home


def test_flow_computes_everything_and_then_only_what_changed(kpi_lake: Path, prefect_harness: None) -> None:
    from aicmo.flows.aggregate import aggregate

    summary = aggregate()
    assert summary["days_recomputed"] == DAYS
    assert summary["bad_events"]["unknown_campaign"] == 1 and summary["bad_events"]["negative_revenue"] == 1
    assert summary["bad_events"]["bad_rows"] == 2
    kpis = summary["kpis"]
    assert 0.9 < kpis["delivery_rate"] < 1.0
    # window-level unique opens are distinct contacts over 8 weeks (at most the 400 simulated)
    assert 300 < kpis["unique_opens"] <= 400
    assert kpis["open_rate"] == pytest.approx(kpis["unique_opens"] / kpis["deliveries"], abs=1e-4)
    assert kpis["cost"] == pytest.approx(DAYS * 25.0 + kpis["sends"] * 0.001, rel=1e-6)
    attribution = summary["attribution"]
    assert attribution["credited_conversions"] <= attribution["conversions"]
    assert set(attribution["removal_effects"]) == {"ads", "email"}
    for model in ("first_touch", "linear", "markov"):
        credited = sum(ch[model] for ch in attribution["by_channel"].values())
        assert credited == pytest.approx(attribution["credited_conversions"], abs=0.05)
    flagged = {(a["day"], a["scope"], a["metric"]) for a in summary["anomalies"]}
    assert (SPIKE.isoformat(), "email", "bounce_rate") in flagged
    weekends = {a["day"] for a in summary["anomalies"] if datetime.fromisoformat(a["day"]).weekday() >= 5}
    assert weekends == set()
    assert all(Path(p).stat().st_size > 10_000 for p in summary["plots"])
    assert wiring.lake().scan("kpis_daily").collect().height >= DAYS

    # nothing changed: nothing recomputed; a late event on one day: only that day
    assert aggregate()["days_recomputed"] == 0
    late = EventLog().add("open", 5, at(D1 + timedelta(days=10), 22), event_id="late-open").frame()
    written = wiring.lake().write("events", late, mode="merge")
    with transaction(wiring.engine()) as session:
        record_partitions(session, "events", written)
    assert aggregate()["days_recomputed"] == 1
    assert aggregate(start=D1, end=D1 + timedelta(days=6), full=True)["days_recomputed"] == 7


def test_cli_prints_kpis_attribution_and_rejects_bad_input(
    kpi_lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 250)
    runner = CliRunner()
    result = runner.invoke(analytics_app, ["kpis", "--by", "campaign"])
    assert result.exit_code == 0, result.output
    assert "spring" in result.output and "open_rate" in result.output
    result = runner.invoke(
        analytics_app, ["attribution", "--value", "revenue", "--start", (D1 + timedelta(days=7)).isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "markov" in result.output and "removal_effect" in result.output
    bad = runner.invoke(analytics_app, ["kpis", "--start", "yesterday"])
    assert bad.exit_code != 0 and "--start" in str(bad.exception)
    bad = runner.invoke(analytics_app, ["kpis", "--by", "week"])
    assert bad.exit_code != 0 and "--by" in str(bad.exception)
