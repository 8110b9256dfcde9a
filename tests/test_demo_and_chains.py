"""End to end: the demo's whole pipeline on a small dataset, then the daily chain and a backfill."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aicmo.models.runs import FlowRunRecord
from aicmo.storage.db import transaction
from aicmo.wiring import engine
from tests.fixed_days import DEMO


@pytest.mark.slow
def test_demo_then_daily_chain_then_backfill(prefect_harness: None, aicmo_home: Path) -> None:
    from aicmo.cli.demo import run_demo
    from aicmo.fakes.provider_server import FakeProviderServer
    from aicmo.flows.backfill import backfill
    from aicmo.flows.daily import daily_pipeline
    from aicmo.wiring import settings_overrides

    results = run_demo(contacts=DEMO.contacts, days=DEMO.days, seed=DEMO.seed, end=DEMO.end)
    generated = results["generate"]
    assert generated["contacts"] == 400 and generated["events"] > 1000
    assert results["enrich"]["selected"] == 400
    revenue = results["revenue"]
    # every succeeded payment becomes an order, except those of customers unknown to the store
    assert revenue["orders_written"] == revenue["payments_succeeded"] - revenue["unmatched_payments"] > 0
    # every generated day, and the day the demo published its campaign on, has its KPI rows
    assert results["aggregate"]["days_recomputed"] >= DEMO.days
    assert results["aggregate"]["kpi_rows"] >= results["aggregate"]["days_recomputed"]
    # the daily pipeline ran every step; none failed, and the revenue sync had the fake Stripe to read
    daily_steps = {r["step"]: r["state"] for r in results["daily pipeline"]["steps"]}
    assert list(daily_steps) == [
        "enrich",
        "publish",
        "tracking",
        "revenue",
        "aggregate",
        "score",
        "media",
        "ads",
    ]
    assert daily_steps["revenue"] == "Completed" and set(daily_steps.values()) <= {"Completed", "Skipped"}
    # every purchasing customer is scored (engaged contacts without orders too)
    assert results["score"]["contacts_scored"] >= results["score"]["customers"] > 0
    published = results["publish"]
    sent = {r["channel"]: r["rows"] for r in published["ledger"] if r["state"] == "sent"}
    assert published["status"] == "sent"
    assert sent["email"] == published["received"]["smtp_messages"] == 300
    assert sent["webhook"] == published["received"]["webhook_deliveries"] == 300
    assert sent["push"] == published["received"]["fcm_messages"] == 299  # one device uninstalled
    end = date.fromisoformat(str(generated["end"]))
    assert end == DEMO.end

    with FakeProviderServer() as fakes, settings_overrides(fakes.settings_env()):
        daily = daily_pipeline(run_date=end)
    # everything was enriched minutes ago: the daily run finds nothing stale
    assert daily["enrich"]["selected"] == 0
    # and no event partition was written since the demo's aggregation: nothing to recompute
    assert daily["aggregate"]["days_recomputed"] == 0

    filled = backfill(start=end - timedelta(days=4), end=end, max_parallel=2)
    # one run per day partition, every one of them done, then one rescore as of the last day
    assert [(d["day"], d["outcome"]) for d in filled["days"]] == [
        (str(end - timedelta(days=4 - i)), "completed") for i in range(5)
    ]
    assert filled["failed"] == [] and filled["score"]["as_of"] == str(end)
    with transaction(engine()) as session:
        runs = {(r.flow_name, r.status) for r in session.scalars(select(FlowRunRecord))}
    # the demo ran the daily pipeline too: every flow of the chain is in the run log
    flows = {"daily-pipeline", "backfill", "enrich-contacts", "sync-stripe-revenue", "aggregate", "score"}
    flows |= {"publish-campaigns", "ads"}
    assert {(name, "completed") for name in flows} <= runs
    assert ("generate-sample-data", "completed") in runs
