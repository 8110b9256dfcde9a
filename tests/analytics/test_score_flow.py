"""The ``score`` flow end to end: lake in, contacts' score columns, lake tables and heatmaps out."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from prefect.client.orchestration import get_client
from sqlalchemy import func, insert, select

from aicmo import wiring
from aicmo.models.analytics import TierChange
from aicmo.models.crm import Contact
from aicmo.storage.migrate import ensure_schema
from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, simulate_bgnbd_orders
from tests.crm.helpers import run_cli

AS_OF = date(2025, 6, 30)


def _events(contact_ids: list[int]) -> pl.DataFrame:
    end = datetime(2025, 6, 30, 12, tzinfo=UTC)
    rows = [(cid, end - timedelta(days=cid % 40), "click" if cid % 3 else "open") for cid in contact_ids]
    return pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "contact_id": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "type": [r[2] for r in rows],
            "channel": ["email"] * len(rows),
        }
    )


def test_score_flow_writes_contacts_lake_and_artifacts(aicmo_home: Path, prefect_harness: None) -> None:
    from aicmo.flows.score import score

    n = 1500
    orders = simulate_bgnbd_orders(n, BgNbdParams(), GammaGammaParams(), date(2024, 7, 1), AS_OF, seed=5)
    eng = wiring.engine()
    ensure_schema(eng)
    with eng.begin() as conn:
        conn.execute(insert(Contact.__table__), [{"email": f"c{i}@example.com"} for i in range(1, n + 101)])
    lake = wiring.lake()
    lake.write("orders", orders)
    lake.write("events", _events(list(range(1, n + 101, 7))))

    result = score(as_of=AS_OF)

    assert result["as_of"] == "2025-06-30"
    assert result["customers"] == n
    assert set(result["bgnbd"]) >= {"r", "alpha", "a", "b"} and set(result["gamma_gamma"]) >= {"p", "q", "v"}
    assert sum(result["tiers"].values()) == n
    assert result["store"]["updated"] == result["contacts_scored"] > n  # buyers plus engaged non-buyers
    assert result["store"]["tier_changes"] == n  # first run: every customer gets a tier
    assert result["cohorts"]["cohorts"]["orders"] == 12
    for path in result["cohorts"]["pngs"].values():
        assert Path(path).is_file() and Path(path).stat().st_size > 1000
        assert Path(path).is_relative_to(aicmo_home)

    with eng.connect() as conn:
        scored = conn.execute(select(func.count()).where(Contact.scored_at.is_not(None))).scalar_one()
        tiers = dict(conn.execute(select(Contact.tier, func.count()).group_by(Contact.tier)).all())
        top = conn.execute(
            select(Contact.historical_ltv, Contact.predicted_ltv, Contact.p_alive, Contact.rfm_segment)
            .where(Contact.historical_ltv.is_not(None))
            .order_by(Contact.historical_ltv.desc())
            .limit(1)
        ).one()
    assert scored == result["contacts_scored"]
    assert {k: v for k, v in tiers.items() if k is not None} == result["tiers"]
    assert top.predicted_ltv > 0 and 0 < top.p_alive <= 1 and top.rfm_segment

    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts(limit=200)}
    assert {"score-tiers", "score-ltv-models", "cohort-retention-orders", "cohort-heatmaps"} <= keys

    snapshot = lake.read_partition("ltv", AS_OF)
    assert snapshot.height == result["contacts_scored"]
    assert snapshot.filter(pl.col("orders").is_null())["engagement_score"].max() > 0
    retention = lake.read_partition("cohort_retention", AS_OF)
    assert set(retention["basis"]) == {"orders", "events"}

    # A later run with more orders for one customer moves their tier and records it once.
    best = snapshot.filter(pl.col("tier") == "bronze")["contact_id"][0]
    extra = pl.DataFrame(
        {
            "order_id": ["big-1"],
            "contact_id": [best],
            "ts": [datetime(2025, 7, 1, 10, tzinfo=UTC)],
            "amount": [5000.0],
            "currency": ["USD"],
            "source": ["shop"],
        }
    )
    lake.write("orders", extra)
    again = score(as_of=AS_OF + timedelta(days=1))
    assert again["tiers"].get("platinum", 0) >= result["tiers"].get("platinum", 0) + 1
    with eng.connect() as conn:
        moved = conn.execute(
            select(TierChange.from_tier, TierChange.to_tier)
            .where(TierChange.contact_id == best)
            .order_by(TierChange.id)
        ).all()
    assert [tuple(m) for m in moved] == [(None, "bronze"), ("bronze", "platinum")]


def test_default_as_of_is_the_last_day_with_data(aicmo_home: Path) -> None:
    from aicmo.tasks.analytics.score_steps import default_as_of

    lake = wiring.lake()
    assert default_as_of(lake, today=date(2025, 1, 10)) == date(2025, 1, 10)
    lake.write("events", _events([1, 2]))
    assert default_as_of(lake, today=date(2026, 1, 1)) == max(lake.partitions("events"))
    assert default_as_of(lake, today=date(2025, 1, 1)) == date(2025, 1, 1)  # data only after "today"


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AICMO_HOME": str(home), "COLUMNS": "200"}
    cmd = [sys.executable, "-c", "from aicmo.cli import main; main()", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _cli_here(capsys: pytest.CaptureFixture[str], args: list[str]) -> SimpleNamespace:
    """``aicmo ARGS`` through the console entry point in this process (no interpreter start-up)."""
    code, out, err = run_cli(capsys, *args)
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


def test_cli_ltv_and_cohorts(
    aicmo_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    orders = simulate_bgnbd_orders(800, BgNbdParams(), GammaGammaParams(), date(2024, 7, 1), AS_OF, seed=9)
    wiring.lake().write("orders", orders)

    ltv = _cli_here(capsys, ["analytics", "ltv", "--top", "3"])
    assert ltv.returncode == 0, ltv.stderr
    assert "Fitted parameters as of 2025-06-30" in ltv.stdout
    assert "800 customers" in ltv.stdout and "Top 3 by predicted LTV" in ltv.stdout
    assert "std_error" in ltv.stdout and "ci95_low" in ltv.stdout

    check = _cli_here(capsys, ["analytics", "ltv-check", "--holdout-days", "90"])
    assert check.returncode == 0, check.stderr
    assert "actual vs predicted" in check.stdout and "mbgnbd: mean absolute error" in check.stdout
    plot = Path(check.stdout.split("plot:")[1].strip())
    assert plot.is_file() and plot.read_bytes()[:4] == b"\x89PNG"
    too_long = _cli(["analytics", "ltv-check", "--holdout-days", "400"], aicmo_home)
    assert too_long.returncode == 1 and "--holdout-days 400" in too_long.stderr
    assert "Traceback" not in too_long.stderr

    cohorts = _cli_here(capsys, ["analytics", "cohorts", "--as-of", "2025-06-30", "--last", "3"])
    assert cohorts.returncode == 0, cohorts.stderr
    png = Path(cohorts.stdout.split("heatmap:")[1].strip())
    assert png.is_file() and png.is_relative_to(aicmo_home)

    bad = _cli_here(capsys, ["analytics", "cohorts", "--period", "quarter"])
    assert bad.returncode == 1 and "--period" in bad.stderr and "Traceback" not in bad.stderr
    empty = _cli_here(capsys, ["analytics", "cohorts", "--basis", "events"])
    assert empty.returncode == 1 and "no events" in empty.stderr
