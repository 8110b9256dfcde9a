"""Start-up stays light: ``--help``, a usage error and a bad argument load neither Prefect, Polars,
SQLAlchemy nor the settings.

The command modules import the libraries a command needs inside the command, so the help pages and
argument errors answer in a fraction of a second. This checks what got imported (not how long it
took; benchmarks/cli_startup.py measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

HEAVY = ("prefect", "polars", "sqlalchemy", "pydantic_settings", "aicmo.settings")


def _loaded_after(args: list[str], tmp_path: Path) -> tuple[int, list[str]]:
    """Run ``aicmo ARGS`` as the console script does; its exit code and the heavy modules it loaded."""
    report = tmp_path / "modules.json"
    code = (
        "import json, sys\n"
        "report, sys.argv = sys.argv[1], ['aicmo', *sys.argv[2:]]\n"
        "from aicmo.cli import main\n"
        "try:\n"
        "    main()\n"
        "    code = 0\n"
        "except SystemExit as exc:\n"
        "    code = exc.code if isinstance(exc.code, int) else 1\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "open(report, 'w').write(json.dumps({'code': code, 'heavy': heavy}))\n"
    )
    env = {**os.environ, "AICMO_HOME": str(tmp_path / "home")}
    subprocess.run(
        [sys.executable, "-c", code, str(report), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result = json.loads(report.read_text())
    return int(result["code"]), list(result["heavy"])


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["--help"], 0),
        (["analytics", "--help"], 0),
        (["pipeline", "backfill", "--help"], 0),
        (["contacts", "import"], 2),  # missing argument: a usage error
        (["analytics", "kpis", "--no-such-option"], 2),
        (["no-such-command"], 2),
        # bad values are refused while the command line is parsed, before the settings load
        (["pipeline", "backfill", "2026-13-01", "2026-01-02"], 1),
        (["pipeline", "backfill", "2026-02-01", "2026-01-02"], 1),
        (["pipeline", "backfill", "2026-01-01", "2026-01-02", "--reprocess", "some"], 1),
        (["pipeline", "daily", "--date", "yesterday"], 1),
        (["analytics", "kpis", "--start", "2026-1-1"], 1),
        (["ads", "pace", "--today", "soon"], 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_help_and_usage_errors_load_no_heavy_library(tmp_path: Path, args: list[str], exit_code: int) -> None:
    code, heavy = _loaded_after(args, tmp_path)
    assert code == exit_code
    assert heavy == [], f"aicmo {' '.join(args)} imported {heavy}"


def test_spelled_out_choices_match_the_code() -> None:
    """Help texts that spell out a list (to stay light) name exactly what the code accepts."""
    from aicmo.cli.app import _register, app
    from aicmo.models.media import ASSET_KINDS, ASSET_STATUSES
    from aicmo.tasks.tracking.importer import FORMATS

    _register()
    runner = CliRunner()
    events = runner.invoke(app, ["events", "import", "--help"], env={"COLUMNS": "200"}).output
    assert "Provider: " + "|".join(FORMATS) + "." in events
    media = runner.invoke(app, ["media", "list", "--help"], env={"COLUMNS": "200"}).output
    assert "One of " + ", ".join(ASSET_KINDS) + "." in media
    assert "One of " + ", ".join(ASSET_STATUSES) + "." in media
