"""The CLI's contract: every command listed with help, bad settings as one line without traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.one_line import one_error_line

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([*AICMO, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_help_lists_commands_with_help_text(tmp_path: Path) -> None:
    result = _run(["--help"], {"AICMO_HOME": str(tmp_path)}, tmp_path)
    assert result.returncode == 0
    listed = {line.strip("│ ").split(" ")[0] for line in result.stdout.splitlines() if line.startswith("│ ")}
    every = {"demo", "generate", "serve", "pipeline", "db", "contacts", "segments", "analytics", "providers"}
    every |= {"events", "ads", "media", "campaigns", "retention", "experiments"}
    assert every <= listed, sorted(every - listed)


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"AICMO_DATABASE_URL": "nonsense"}, "AICMO_DATABASE_URL"),
        ({"AICMO_GATEWAY_TIMEOUT_S": "-1"}, "AICMO_GATEWAY_TIMEOUT_S"),
        ({"AICMO_BATCH_SIZE": "many"}, "AICMO_BATCH_SIZE"),
    ],
)
def test_bad_setting_is_one_line_without_traceback(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    result = _run(["db", "current"], {"AICMO_HOME": str(tmp_path), **env}, tmp_path)
    assert result.returncode == 2
    assert needle in one_error_line(result.stderr), result.stderr


def test_db_upgrade_creates_the_store_under_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _run(["db", "upgrade"], {"AICMO_HOME": str(home)}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (home / "aicmo.db").is_file()
    current = _run(["db", "current"], {"AICMO_HOME": str(home)}, tmp_path)
    words = current.stdout.split()
    assert words[0] == "current:" and words[2] == "head:", current.stdout
    assert words[1] == words[3] != "(empty)"
