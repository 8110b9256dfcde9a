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
    ],
)
def test_bad_dates_are_one_line_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    result = _run(args, tmp_path / "home")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert needle in result.stderr


@pytest.mark.slow
def test_backfill_from_the_shell_recomputes_each_day(aicmo_home: Path, prefect_api_url: str) -> None:
    from aicmo.tasks.sample.configured_store import generate_into_configured_store

    home = aicmo_home
    # the data are set up in this process (tests/sample checks `aicmo generate` from the shell)
    generate_into_configured_store(300, 10, 5, end=date(2026, 6, 10))
    dispose_engines()
    result = _run(
        ["pipeline", "backfill", "2026-06-04", "2026-06-10", "--chunk-days", "4", "--no-rescore"],
        home,
        prefect_api_url,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "chunks" in result.stdout
    # the run log in the store says what the backfill did
    import sqlite3

    with sqlite3.connect(home / "aicmo.db") as conn:
        status, stats = conn.execute(
            "SELECT status, stats FROM flow_runs WHERE flow_name = 'backfill' ORDER BY id DESC"
        ).fetchone()
    assert status == "completed"
    chunks = json.loads(stats)["chunks"]
    assert [(c["start"], c["end"], c["days_recomputed"]) for c in chunks] == [
        ("2026-06-04", "2026-06-07", 4),
        ("2026-06-08", "2026-06-10", 3),
    ]
