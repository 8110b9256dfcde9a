"""``generate_sample_data`` (Prefect) and ``aicmo generate`` (CLI) on the configured store and lake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from prefect.client.orchestration import get_client
from sqlalchemy import func, select

from aicmo import wiring
from aicmo.models.crm import Contact
from aicmo.storage.lake import Lake
from tests.one_line import one_error_line


def test_flow_writes_the_dataset_and_its_artifacts(aicmo_home: Path, prefect_harness: None) -> None:
    from aicmo.flows.generate import generate_sample_data

    result = generate_sample_data(contacts=400, days=14, seed=2, end=date(2026, 9, 30))

    assert result["contacts"] == 400 and result["events"] > 1000
    assert result["start"] == "2026-09-17" and result["end"] == "2026-09-30"
    assert result["truth"]["broken_campaign_id"] > 0
    assert Path(result["truth_path"]) == aicmo_home / "truth.json"
    assert Path(result["assets_dir"]) == aicmo_home / "assets"
    assert "@" not in json.dumps(result)  # counts and paths, no personal data
    with wiring.engine().connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Contact)) == 400
    assert wiring.lake().scan("events").collect().height == result["events"]
    with get_client(sync_client=True) as client:
        keys = {a.key for a in client.read_artifacts(limit=200)}
    assert {"sample-data-counts", "sample-data-truth"} <= keys


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICMO_")}
    env["AICMO_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", "from aicmo.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_generates_the_same_data_in_two_processes_and_rejects_a_bad_end_day(tmp_path: Path) -> None:
    args = ["generate", "--contacts", "300", "--days", "10", "--seed", "4", "--end", "2026-08-31"]
    homes = [tmp_path / "one", tmp_path / "two"]
    for home in homes:
        done = _cli(args, home)
        assert done.returncode == 0, done.stderr
        assert "events" in done.stdout and "truth.json" in done.stdout
        assert (home / "truth.json").is_file() and any((home / "assets").glob("*.png"))
        assert "Traceback" not in done.stderr
    # Separate processes (different hash seeds, thread timings) still write identical data.
    for table in ("events", "orders", "ad_spend"):
        one, two = (Lake(str(h / "lake")).scan(table).collect() for h in homes)
        assert one.height > 0 and one.equals(two), table
    home = homes[0]

    bad = _cli(["generate", "--end", "31/08/2026"], home)
    assert bad.returncode != 0
    line = one_error_line(bad.stderr)
    assert "--end" in line and "YYYY-MM-DD" in line
