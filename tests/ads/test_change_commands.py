"""`aicmo ads budget|bid|pause|resume` against the local fake Meta and Google Ads servers: dry runs
change nothing, every change is logged with its inputs and the platform's answer, and a refused
change shows the platform's own error on one line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from aicmo import wiring
from aicmo.cli.commands.ads import app as ads_app
from aicmo.cli.console import console, err_console
from aicmo.fakes.ads_platforms import GOOGLE_CUSTOMER, META_ACCOUNT, FakeAdPlatforms
from aicmo.models.ads import AdChange
from aicmo.settings import reset_settings
from aicmo.storage.db import transaction
from tests.one_line import one_error_line

META = ["--platform", "meta", "--account", META_ACCOUNT]
AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]
GOOGLE = ["--platform", "google_ads", "--account", "123-456-7890"]


@pytest.fixture
def fake(aicmo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAdPlatforms]:
    monkeypatch.setattr(console, "width", 250)
    monkeypatch.setattr(err_console, "width", 250)
    with FakeAdPlatforms() as server:
        for key, value in server.settings_env().items():
            monkeypatch.setenv(key, value)
        reset_settings()
        yield server


def _log() -> list[AdChange]:
    with transaction(wiring.engine()) as session:
        rows = list(session.scalars(select(AdChange).order_by(AdChange.id)))
        session.expunge_all()
    return rows


def test_budget_dry_run_changes_nothing_then_the_change_is_made_and_logged(fake: FakeAdPlatforms) -> None:
    runner = CliRunner()
    adset_id = next(a["id"] for a in fake.state.meta_adsets.values() if a["name"] == "Lookalike 1%")
    dry = runner.invoke(ads_app, ["budget", "62.5", *META, "--ad-set", "Lookalike 1%", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"dry run: daily budget of Prospecting / Lookalike 1% ({adset_id}): 50.00 -> 62.50" in dry.output
    assert fake.state.meta_adsets[adset_id]["daily_budget"] == "5000"
    assert not [r for r in fake.state.requests if r[1].startswith("POST")]  # nothing sent

    done = runner.invoke(ads_app, ["budget", "62.5", *META, "--ad-set", adset_id])
    assert done.exit_code == 0, done.output
    assert "applied: daily budget of Prospecting / Lookalike 1%" in done.output
    assert fake.state.meta_adsets[adset_id]["daily_budget"] == "6250"
    dry_row, applied = _log()
    assert (dry_row.status, dry_row.dry_run, dry_row.response) == ("dry_run", True, None)
    assert (applied.status, applied.object_id, applied.action) == ("applied", adset_id, "set_budget")
    assert applied.inputs["value"] == 62.5 and applied.inputs["previous"] == 50.0
    assert applied.http_status == 200 and applied.response == {"success": True}


def test_bid_pause_and_resume_on_google_ads(fake: FakeAdPlatforms) -> None:
    runner = CliRunner()
    group = fake.state.google_ad_groups["700"]["adGroup"]
    bid = runner.invoke(ads_app, ["bid", "1.35", *GOOGLE, "--ad-set", "Exact", "--campaign", "Brand Search"])
    assert bid.exit_code == 0, bid.output
    assert (
        group["cpcBidMicros"] == "1350000" and "bid of Brand Search / Exact (700): 1.20 -> 1.35" in bid.output
    )
    paused = runner.invoke(ads_app, ["pause", *GOOGLE, "--ad-set", "700", "--ad-set", "All products"])
    assert paused.exit_code == 0, paused.output
    assert group["status"] == "PAUSED" and fake.state.google_ad_groups["701"]["adGroup"]["status"] == "PAUSED"
    dry = runner.invoke(ads_app, ["resume", *GOOGLE, "--ad-set", "Exact", "--dry-run"])
    assert dry.exit_code == 0 and "dry run: resume Brand Search / Exact (700)" in dry.output
    assert group["status"] == "PAUSED"
    assert runner.invoke(ads_app, ["resume", *GOOGLE, "--ad-set", "Exact"]).exit_code == 0
    assert group["status"] == "ENABLED"
    mutate = fake.state.requests[-1]
    assert mutate[1] == f"POST /v18/customers/{GOOGLE_CUSTOMER}/adGroups:mutate"
    assert mutate[2]["operations"][0] == {
        "update": {"resourceName": f"customers/{GOOGLE_CUSTOMER}/adGroups/700", "status": "ENABLED"},
        "updateMask": "status",
    }
    log = _log()
    assert [(r.action, r.status) for r in log] == [
        ("set_bid", "applied"),
        ("pause", "applied"),
        ("pause", "applied"),
        ("resume", "dry_run"),
        ("resume", "applied"),
    ]
    assert log[-1].response == {"results": [{"resourceName": f"customers/{GOOGLE_CUSTOMER}/adGroups/700"}]}
    shown = runner.invoke(ads_app, ["changes"])
    assert shown.exit_code == 0 and shown.output.count("applied") == 4


def test_unknown_or_ambiguous_ad_set_is_named(fake: FakeAdPlatforms) -> None:
    first = next(iter(fake.state.meta_adsets.values()))
    fake.state.meta_adsets["999"] = {**first, "id": "999", "campaign": {"name": "Other", "id": "1"}}
    runner = CliRunner()
    missing = runner.invoke(ads_app, ["pause", *META, "--ad-set", "Nope"])
    assert missing.exit_code != 0 and "no ad set 'Nope' on the platform" in str(missing.exception)
    shared = runner.invoke(ads_app, ["pause", *META, "--ad-set", "Lookalike 1%"])
    assert "2 ad sets are named 'Lookalike 1%' (campaigns 'Other', 'Prospecting')" in str(shared.exception)
    assert not _log()


def test_refused_change_shows_the_platform_error_on_one_line(fake: FakeAdPlatforms, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k != "AICMO_DATABASE_URL"},
        **fake.settings_env(),
    }
    result = subprocess.run(
        [*AICMO, "ads", "budget", "0.5", *META, "--ad-set", "Lookalike 1%"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert line.startswith("failed: daily budget of Prospecting / Lookalike 1%")
    assert "meta: The minimum budget for this ad set is $1.00. [code 100/1885272] (HTTP 400)" in line
    (failed,) = _log()
    assert failed.status == "failed" and failed.response is not None
    assert failed.response["error"]["error_subcode"] == 1885272
