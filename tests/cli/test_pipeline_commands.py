"""``aicmo pipeline``: the daily chain and backfills from the shell, with one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from aicmo.storage.db import dispose_engines

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]


def _run(args: list[str], home: Path, prefect_api_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """``aicmo ARGS`` in its own process; its flows run on ``prefect_api_url`` (else an ephemeral server)."""
    env = {**os.environ, "AICMO_HOME": str(home), "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_HOME", None)
    if prefect_api_url is not None:
        env["PREFECT_API_URL"] = prefect_api_url
    return subprocess.run(
        [*AICMO, *args], env=env, cwd=home.parent, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["pipeline", "backfill", "2026-13-01", "2026-01-02"], "START: not a date"),
        (["pipeline", "backfill", "2026-02-01", "2026-01-02"], "before START"),
        (["pipeline", "daily", "--date", "yesterday"], "--date: not a date"),
        (["pipeline", "backfill", "2026-01-01", "2026-01-02", "--steps", "publish"], "--steps: expected"),
        (
            ["pipeline", "backfill", "2026-01-01", "2026-01-02", "--reprocess", "some"],
            "--reprocess: expected",
        ),
    ],
)
def test_bad_dates_are_one_line_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    result = _run(args, tmp_path / "home")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert needle in result.stderr


@pytest.mark.slow
def test_backfill_from_the_shell_runs_each_day_and_its_dry_run_says_what_exists(
    aicmo_home: Path, prefect_api_url: str
) -> None:
    from aicmo.tasks.sample.configured_store import generate_into_configured_store

    home = aicmo_home
    # the data are set up in this process (tests/sample checks `aicmo generate` from the shell)
    generate_into_configured_store(300, 10, 5, end=date(2026, 6, 10))
    dispose_engines()
    args = ["pipeline", "backfill", "2026-06-08", "2026-06-10", "--steps", "aggregate"]
    dry = _run([*args, "--dry-run"], home, prefect_api_url)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "would run 3 of 3 days with steps aggregate" in dry.stdout
    assert "never done" in dry.stdout
    result = _run([*args, "--max-parallel", "2"], home, prefect_api_url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    # the run log in the store says what the backfill did
    import sqlite3

    with sqlite3.connect(home / "aicmo.db") as conn:
        status, stats = conn.execute(
            "SELECT status, stats FROM flow_runs WHERE flow_name = 'backfill' ORDER BY id DESC"
        ).fetchone()
        kept = conn.execute("SELECT day, status FROM backfill_days ORDER BY day").fetchall()
    assert status == "completed"
    assert [(d["day"], d["outcome"]) for d in json.loads(stats)["days"]] == [
        ("2026-06-08", "completed"),
        ("2026-06-09", "completed"),
        ("2026-06-10", "completed"),
    ]
    assert kept == [("2026-06-08", "completed"), ("2026-06-09", "completed"), ("2026-06-10", "completed")]
    again = _run([*args, "--dry-run"], home, prefect_api_url)
    assert "would run 0 of 3 days" in again.stdout
