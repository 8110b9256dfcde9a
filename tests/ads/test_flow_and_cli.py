"""`aicmo ads ...` end to end on an isolated home, and the ads flow on Prefect's test server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aicmo import wiring
from aicmo.cli.commands.ads import app as ads_app
from aicmo.cli.console import console, err_console
from aicmo.fakes.ads_platforms import META_ACCOUNT, FakeAdPlatforms
from aicmo.settings import reset_settings
from aicmo.storage.migrate import upgrade
from tests.artifacts import progress_values
from tests.crm.helpers import run_cli
from tests.one_line import one_error_line

DATA = Path(__file__).parent / "data"
REPORT = """date,platform,account,campaign,ad_set,ad,impressions,clicks,spend,conversions,conversion_value,currency
2026-11-12,meta,act_1001,Prospecting,Lookalike 1%,[bold red]Boom[/bold red],10000,200,100.00,4,400.00,USD
2026-11-12,meta,act_1001,Prospecting,Broad,<script>x</script>,10000,200,100.00,1,100.00,USD
2026-11-13,meta,act_1001,Prospecting,Lookalike 1%,[bold red]Boom[/bold red],10000,210,105.00,5,500.00,USD
2026-11-13,meta,act_1001,Prospecting,Broad,<script>x</script>,10000,190,95.00,1,90.00,USD
"""


@pytest.fixture
def home(aicmo_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    upgrade(wiring.engine())
    monkeypatch.setattr(console, "width", 250)
    monkeypatch.setattr(err_console, "width", 250)
    yield aicmo_home


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "meta_generic.csv"
    path.write_text(REPORT)
    return path


def test_import_report_and_escaped_names(home: Path, report_file: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(ads_app, ["import", str(report_file)])
    assert result.exit_code == 0, result.output
    assert "4 row(s) written over 2 day(s)" in result.output
    size = report_file.stat().st_size  # the bar ends at the file's whole size
    assert "importing ad reports" in result.stderr and f"{size}/{size} bytes" in result.stderr
    report = runner.invoke(ads_app, ["report", "--by", "ad_set"])
    assert report.exit_code == 0, report.output
    assert "Lookalike 1%" in report.output and "Broad" in report.output
    marked = report_file.with_name("marked.csv")
    marked.write_text(
        "date,platform,campaign,ad_set,spend,currency\n2026-11-12,bing,[bold]Winter[/bold],[red]Hot[/red],5.00,USD\n"
    )
    assert runner.invoke(ads_app, ["import", str(marked)]).exit_code == 0
    shown = runner.invoke(ads_app, ["report", "--by", "ad_set"]).output
    assert "[bold]Winter[/bold]" in shown and "[red]Hot[/red]" in shown  # printed as text, not as markup
    assert wiring.lake().partitions("ads_roi_daily")  # the report is written to the lake too


def test_rejected_rows_and_warnings_exit_1(home: Path) -> None:
    result = CliRunner().invoke(
        ads_app, ["import", str(DATA / "google_ads_utf8_day_first.csv"), "--rates", str(DATA / "rates.csv")]
    )
    assert result.exit_code == 1
    assert "line 7: Conv. value is not a number" in result.output
    assert "ignored unknown column(s): Labels" in result.output


MONTHLY_META = (
    "Reporting starts,Reporting ends,Campaign name,Ad set name,Impressions,Amount spent (USD)\n"
    "2026-11-01,2026-11-30,Brand,A,100,1.00\n"
)
BAD_FILES = {
    "another kind of file": (None, "not a Google Ads, Meta Ads Manager or generic ad report"),
    "a row over a month": (MONTHLY_META, "line 2 covers 2026-11-01 to 2026-11-30, not one day; export with"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_file_that_cannot_be_imported_is_one_line_without_traceback(case: str, tmp_path: Path) -> None:
    text, expected = BAD_FILES[case]
    path = DATA / "contacts_not_a_report.csv"
    if text is not None:
        path = tmp_path / "report.csv"
        path.write_text(text)
    env = {**os.environ, "AICMO_HOME": str(tmp_path / "h")}
    result = subprocess.run(
        [sys.executable, "-c", "from aicmo.cli import main; main()", "ads", "import", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert expected in one_error_line(result.stderr)


def test_allocate_dry_run_then_apply_on_the_fake_platform(
    home: Path, report_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    assert runner.invoke(ads_app, ["import", str(report_file)]).exit_code == 0
    with FakeAdPlatforms() as fake:
        first = next(iter(fake.state.meta_adsets.values()))
        fake.state.meta_adsets["777"] = {**first, "id": "777", "name": "Broad", "daily_budget": "5000"}
        for key, value in fake.settings_env().items():
            monkeypatch.setenv(key, value)
        reset_settings()
        args = [
            "allocate",
            "--campaign",
            "Prospecting",
            "--budget",
            "100",
            "--seed",
            "1",
            "--platform",
            "meta",
            "--account",
            META_ACCOUNT,
        ]
        dry = runner.invoke(ads_app, args)
        assert dry.exit_code == 0, dry.output
        assert "dry run:" in dry.output and "daily budget of Prospecting / Lookalike 1%" in dry.output
        assert fake.state.meta_adsets["777"]["daily_budget"] == "5000"
        applied = runner.invoke(ads_app, [*args, "--apply"])
        assert applied.exit_code == 0, applied.output
        budgets = {
            a["name"]: int(a["daily_budget"])
            for a in fake.state.meta_adsets.values()
            if a["campaign"]["name"] == "Prospecting"
        }
        assert sum(budgets.values()) == 10_000 and budgets["Lookalike 1%"] > budgets["Broad"]
    log = runner.invoke(ads_app, ["changes"])
    assert log.exit_code == 0 and log.output.count("dry_run") == 2 and log.output.count("applied") == 2


def test_ads_flow_imports_and_writes_roi(home: Path, report_file: Path, prefect_harness: None) -> None:
    from aicmo.flows.ads import ads

    earlier = len(progress_values("ads-import-progress"))  # other tests' imports on this server
    stats = ads(files=[str(report_file)])
    assert stats["import"]["rows_written"] == 4
    assert stats["roi_days_written"] == 2
    assert stats["totals"]["spend"] == pytest.approx(400.0)

    assert progress_values("ads-import-progress")[earlier:] == [100.0]  # this run's bar, at its end


def test_pace_and_bids_commands(home: Path, report_file: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(ads_app, ["import", str(report_file)]).exit_code == 0
    paced = runner.invoke(
        ads_app,
        [
            "pace",
            "--campaign",
            "Prospecting",
            "--budget",
            "3000",
            "--start",
            "2026-11-12",
            "--end",
            "2026-11-21",
            "--today",
            "2026-11-14",
        ],
    )
    assert paced.exit_code == 0, paced.output
    assert "under" in paced.output  # 400 spent of the 600 planned by the 14th
    bids = runner.invoke(ads_app, ["bids", "--campaign", "Prospecting", "--target-cpa", "30"])
    assert bids.exit_code == 0 and "bid_target_cpa" in bids.output
    missing = runner.invoke(ads_app, ["pace", "--campaign", "Prospecting", "--budget", "3000"])
    assert missing.exit_code != 0 and "--campaign needs --start, --end" in str(missing.exception)
    unknown = runner.invoke(ads_app, ["bids", "--campaign", "Nope", "--target-roas", "2"])
    assert "no ad spend for campaign 'Nope'" in str(unknown.exception)


def test_import_with_rates_through_the_gateway(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAdPlatforms() as fake:
        monkeypatch.setenv("AICMO_ADS_RATES_URL", fake.frankfurter_base_url)
        reset_settings()
        result = CliRunner().invoke(ads_app, ["import", str(DATA / "meta_ads_manager.csv")])
        assert result.exit_code == 0, result.output
        asked = [r for r in fake.state.requests if r[0] == "frankfurter"]
    assert asked and asked[0][2] == {"from": "EUR", "to": "USD"}
    rows = wiring.lake().scan("ad_spend").collect()
    assert rows["spend_local"].sum() == pytest.approx(627.44)
    ratio = rows["spend"].sum() / rows["spend_local"].sum()
    assert 1.08 <= ratio <= 1.09  # the fake's EUR rate with its small daily drift


ARGUMENT_ERRORS = {
    "a missing file": (
        ["import", "{home}/missing.csv"],
        "missing.csv: cannot read (No such file or directory)",
    ),
    "an unknown report level": (
        ["report", "--by", "week"],
        "--by: expected one of platform, campaign, ad_set, day, channels, got 'week'",
    ),
    "a report with no spend": (["report"], "no ad spend in that window: import reports with"),
    "an unknown objective": (
        ["allocate", "--campaign", "Prospecting", "--budget", "100", "--objective", "clicks"],
        "--objective: expected conversions or value, got 'clicks'",
    ),
    "an account without its platform": (
        ["allocate", "--campaign", "Prospecting", "--budget", "100", "--account", "act_1001"],
        "--account needs --platform (meta or google_ads)",
    ),
    "bids without a target": (["bids", "--campaign", "Prospecting"], "give --target-cpa or --target-roas"),
    "an unknown platform": (
        ["budget", "5", "--platform", "tiktok", "--account", "a1", "--ad-set", "x"],
        "unknown platform 'tiktok'; expected one of meta, google_ads",
    ),
}


@pytest.mark.parametrize("case", list(ARGUMENT_ERRORS))
def test_each_mistake_on_the_command_line_is_one_line_and_exit_1(
    case: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``aicmo ads ...`` as the console script runs it: one line naming what to fix, nothing on stdout
    (the allocation is not printed when its plan could not be applied)."""
    args, expected = ARGUMENT_ERRORS[case]
    code, out, err = run_cli(capsys, "ads", *(a.format(home=home) for a in args))
    assert code == 1 and out == ""
    assert expected in one_error_line(err)
