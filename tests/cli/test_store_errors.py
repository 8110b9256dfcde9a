"""A store that is missing, unreachable, behind or unsupported: one line naming what to fix, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from aicmo.storage.db import make_engine
from tests.one_line import one_error_line

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]
POSTGRES_URL = os.environ.get("AICMO_TEST_POSTGRES_URL")


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "AICMO_DATABASE_URL"}
    full_env.update(env)
    return subprocess.run([*AICMO, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_fresh_home_migrates_itself_on_first_use(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("email,first_name\nann@example.com,Ann\n", encoding="utf-8")
    home = tmp_path / "home"
    for args in (
        ["segments", "list"],
        ["contacts", "import", str(csv)],
        ["contacts", "export", str(tmp_path / "o.csv")],
    ):
        result = _run(args, {"AICMO_HOME": str(home)}, tmp_path)
        assert result.returncode == 0, result.stderr
    assert "ann@example.com" in (tmp_path / "o.csv").read_text()


def test_unsupported_dialect_and_missing_folder_are_one_line(tmp_path: Path) -> None:
    mysql = _run(
        ["segments", "list"], {"AICMO_HOME": str(tmp_path), "AICMO_DATABASE_URL": "mysql://u@h/db"}, tmp_path
    )
    assert mysql.returncode == 2 and "unsupported database 'mysql'" in one_error_line(mysql.stderr)
    folder = tmp_path / "no" / "such"
    missing = _run(
        ["segments", "list"],
        {"AICMO_HOME": str(tmp_path), "AICMO_DATABASE_URL": f"sqlite:///{folder}/x.db"},
        tmp_path,
    )
    assert missing.returncode == 2 and f"folder {folder} does not exist" in one_error_line(missing.stderr)
    assert not folder.parent.exists()  # nothing created outside AICMO_HOME unasked


@pytest.mark.skipif(POSTGRES_URL is None, reason="AICMO_TEST_POSTGRES_URL not set")
def test_unreachable_missing_and_unmigrated_postgres_stores_are_one_line(tmp_path: Path) -> None:
    assert POSTGRES_URL is not None
    base = POSTGRES_URL.rsplit("/", 1)[0]
    cases = {
        base.replace(":5432", ":1") + "/postgres": "Connection refused",
        f"{base}/no_such_db_{uuid.uuid4().hex[:8]}": "does not exist",
    }
    for url, words in cases.items():
        result = _run(
            ["segments", "list"], {"AICMO_HOME": str(tmp_path), "AICMO_DATABASE_URL": url}, tmp_path
        )
        line = one_error_line(result.stderr)
        assert result.returncode == 2 and "cannot use the store" in line and words in line, line
    name = f"behind_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{base}/{name}"
        behind = _run(
            ["segments", "list"], {"AICMO_HOME": str(tmp_path), "AICMO_DATABASE_URL": url}, tmp_path
        )
        assert behind.returncode == 2 and "run `aicmo db upgrade`" in one_error_line(behind.stderr)
        upgraded = _run(["db", "upgrade"], {"AICMO_HOME": str(tmp_path), "AICMO_DATABASE_URL": url}, tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        listed = _run(
            ["segments", "list"], {"AICMO_HOME": str(tmp_path), "AICMO_DATABASE_URL": url}, tmp_path
        )
        assert listed.returncode == 0, listed.stderr
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
