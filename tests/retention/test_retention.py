"""Retention ages the lake and the store as configured; a dry run reports the same and changes nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from aicmo.models.gateway import ProviderCacheEntry
from aicmo.models.publishing import Campaign, OutboxMessage
from aicmo.models.runs import FlowRunRecord, LakePartitionState
from aicmo.settings import RetentionSettings, reset_settings
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.tasks.retention.policy import PERSONAL_EVENT_COLUMNS, apply_retention
from tests.fixed_days import KPI_SAMPLE

AS_OF = KPI_SAMPLE.end
SETTINGS = RetentionSettings(
    lake_days={"events": 100, "kpis_daily": 1000},
    event_personal_days=30,
    provider_cache_days=10,
    run_log_days=20,
    ledger_days=50,
)
# Event days: 120 days old (dropped), 40 days old (anonymised), 5 days old (kept as is).
DROPPED, AGED, RECENT = (AS_OF - timedelta(days=n) for n in (120, 40, 5))


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _events(day: date, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"{day}:{i}" for i in range(n)],
            "ts": [_at(day)] * n,
            "contact_id": list(range(1, n + 1)),
            "campaign_id": [7] * n,
            "channel": ["email"] * n,
            "type": ["click" if i % 2 else "open" for i in range(n)],
            "url": [f"https://example.com/p?u={i}" for i in range(n)],
            "provider_event_id": [f"sg-{i}" for i in range(n)],
            "revenue": [1.5] * n,
        }
    )


def _fill(engine: Engine, lake: Lake) -> None:
    written = {}
    for day, n in ((DROPPED, 3), (AGED, 4), (RECENT, 5)):
        lake.write_partition("events", day, _events(day, n))
        written[day] = n
        lake.write_partition(
            "kpis_daily",
            day,
            pl.DataFrame({"day": [day], "campaign_id": [7], "channel": ["email"], "opens": [n]}),
        )
    with transaction(engine) as session:
        record_partitions(session, "events", written)
    now = _at(AS_OF, 0)
    with transaction(engine) as session:
        session.add_all(
            [
                ProviderCacheEntry(capability="company", key="old.example", provider="p", found=True,
                                   payload={}, fetched_at=now - timedelta(days=11), expires_at=now + timedelta(days=5)),
                ProviderCacheEntry(capability="company", key="expired.example", provider="p", found=True,
                                   payload={}, fetched_at=now - timedelta(days=2), expires_at=now - timedelta(hours=1)),
                ProviderCacheEntry(capability="company", key="fresh.example", provider="p", found=True,
                                   payload={}, fetched_at=now - timedelta(days=2), expires_at=now + timedelta(days=5)),
                FlowRunRecord(flow_name="daily", status="completed", started_at=now - timedelta(days=30),
                              finished_at=now - timedelta(days=30)),
                FlowRunRecord(flow_name="daily", status="failed", started_at=now - timedelta(days=2),
                              finished_at=now - timedelta(days=2)),
                FlowRunRecord(flow_name="daily", status="running", started_at=now - timedelta(days=40)),
            ]
        )  # fmt: skip
        for name, status, age in (
            ("old-sent", "sent", 60),
            ("new-sent", "sent", 10),
            ("old-draft", "draft", 60),
        ):
            campaign = Campaign(
                name=name, channel="email", status=status, status_changed_at=now - timedelta(days=age)
            )
            session.add(campaign)
            session.flush()
            for contact in (None,):
                key = hashlib.sha256(f"{name}:{contact}".encode()).hexdigest()
                session.add(OutboxMessage(campaign_id=campaign.id, contact_id=contact, channel="social",
                                          idempotency_key=key, state="sent"))  # fmt: skip


def _snapshot(engine: Engine, lake: Lake) -> dict[str, object]:
    with transaction(engine) as session:
        store = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (ProviderCacheEntry, FlowRunRecord, OutboxMessage, LakePartitionState)
        }
    frames = {t: lake.scan(t).collect().sort(pl.all()) for t in ("events", "kpis_daily")}
    return {"store": store, "lake": {t: f.to_dicts() for t, f in frames.items()}}


def test_dry_run_reports_what_apply_removes_and_changes_nothing(engine: Engine, lake: Lake) -> None:
    _fill(engine, lake)
    before = _snapshot(engine, lake)
    planned = apply_retention(engine, lake, SETTINGS, AS_OF, apply=False)
    assert _snapshot(engine, lake) == before

    applied = apply_retention(engine, lake, SETTINGS, AS_OF, apply=True)
    assert [line.as_row() for line in applied] == [line.as_row() for line in planned]
    counts = {(line.action.split()[0], line.target): (line.rows, line.partitions) for line in applied}
    assert counts[("drop", "events")] == (3, 1)
    assert counts[("drop", "kpis_daily")] == (0, 0)
    assert counts[("remove", "events")] == (4, 1)
    assert counts[("prune", "provider_cache")] == (2, 0)  # fetched 11 days ago, and the expired one
    assert counts[("prune", "flow_runs")] == (1, 0)  # the 30-day-old finished run, not the running one
    assert counts[("prune", "outbox")] == (1, 0)  # only the campaign sent 60 days ago

    # A second run finds nothing more to do.
    again = apply_retention(engine, lake, SETTINGS, AS_OF, apply=True)
    assert all(line.rows == 0 and line.partitions == 0 for line in again)


def test_apply_keeps_aggregates_and_strips_only_old_personal_data(engine: Engine, lake: Lake) -> None:
    _fill(engine, lake)
    apply_retention(engine, lake, SETTINGS, AS_OF, apply=True)

    assert lake.partitions("events") == [AGED, RECENT]
    assert lake.partitions("kpis_daily") == [DROPPED, AGED, RECENT]  # aggregates are not events
    with transaction(engine) as session:
        remembered = session.scalars(
            select(LakePartitionState.dt).where(LakePartitionState.table_name == "events")
        )
        assert sorted(remembered) == [AGED, RECENT]

    aged, recent = lake.read_partition("events", AGED), lake.read_partition("events", RECENT)
    assert aged.select(PERSONAL_EVENT_COLUMNS).null_count().row(0) == (4, 4, 4)
    expected = _events(AGED, 4)
    assert aged["type"].to_list() == expected["type"].to_list()  # counts per type survive
    assert aged["revenue"].sum() == pytest.approx(6.0)
    assert recent.select(PERSONAL_EVENT_COLUMNS).null_count().row(0) == (0, 0, 0)

    with transaction(engine) as session:
        keys = set(session.scalars(select(ProviderCacheEntry.key)))
        statuses = sorted(session.scalars(select(FlowRunRecord.status)))
        left = set(
            session.scalars(
                select(Campaign.name).join(OutboxMessage, OutboxMessage.campaign_id == Campaign.id)
            )
        )
    assert keys == {"fresh.example"}
    assert statuses == ["failed", "running"]
    assert left == {"new-sent", "old-draft"}


AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]


def _cli(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("AICMO_RETENTION_")}
    full.update({"AICMO_HOME": str(home), "COLUMNS": "200", **env})
    full.pop("AICMO_DATABASE_URL", None)
    return subprocess.run([*AICMO, "retention", *args], env=full, capture_output=True, text=True, timeout=120)


def test_cli_dry_run_is_the_default_and_reports_per_table(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.write_partition("events", DROPPED, _events(DROPPED, 3))
    result = _cli(
        ["run", "--as-of", AS_OF.isoformat()], tmp_path, AICMO_RETENTION_LAKE_DAYS='{"events": 100}'
    )
    assert result.returncode == 0, result.stderr
    assert "dry run, nothing changed" in result.stdout
    assert "drop lake partitions" in result.stdout
    assert lake.partitions("events") == [DROPPED]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        (
            {"AICMO_RETENTION_LAKE_DAYS": '{"evnts": 30}'},
            "AICMO_RETENTION_LAKE_DAYS names unknown lake table(s) evnts",
        ),
        ({"AICMO_RETENTION_LAKE_DAYS": '{"events": 0}'}, "AICMO_RETENTION_LAKE_DAYS"),
        ({"AICMO_RETENTION_RUN_LOG_DAYS": "soon"}, "AICMO_RETENTION_RUN_LOG_DAYS"),
    ],
)
def test_bad_retention_settings_are_one_line(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    result = _cli(["run"], tmp_path, **env)
    assert result.returncode != 0
    assert needle in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_retention_flow_applies_and_publishes_its_summary(
    aicmo_home: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aicmo.flows.retention import retention
    from aicmo.wiring import lake as home_lake

    home_lake().write_partition("events", DROPPED, _events(DROPPED, 3))
    monkeypatch.setenv("AICMO_RETENTION_LAKE_DAYS", '{"events": 100}')
    reset_settings()
    summary = retention(dry_run=False, as_of=AS_OF)
    dropped = [r for r in summary["lines"] if r["action"] == "drop lake partitions"]
    assert dropped == [{"action": "drop lake partitions", "target": "events", "rows": 3, "partitions": 1,
                        "older than": (AS_OF - timedelta(days=100)).isoformat()}]  # fmt: skip
    assert home_lake().partitions("events") == []
