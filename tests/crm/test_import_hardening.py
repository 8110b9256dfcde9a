"""Files that used to lose rows or crash the import: unclosed quotes, huge cells, odd quoting, bad UTF-16,
Mailchimp's JSON-lines export."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select

from aicmo.models.crm import Contact
from aicmo.storage.db import make_engine, transaction
from aicmo.storage.migrate import upgrade
from aicmo.tasks.crm.csv_import import import_contacts
from aicmo.tasks.crm.csv_reading import MAX_CELL_CHARS


def _names(engine: Engine) -> dict[str, tuple[str | None, str | None]]:
    with transaction(engine) as session:
        return {c.email: (c.first_name, c.last_name) for c in session.scalars(select(Contact))}


def test_an_unclosed_quote_rejects_its_row_and_the_rows_after_it_still_import(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name,last_name,lifecycle_stage\n"
        "alice@example.com,Alice,Adams,lead\n"
        'carol@example.com,Carol,"Unclosed quote,mql,\n'
        "dave@example.com,Dave,Davis,lead\n"
        'erin@example.com,"Erin",Evans,mql\n'
        "frank@example.com,Frank,Fox,lead\n",
        encoding="utf-8",
    )
    report = import_contacts(sqlite_engine, path)
    names = _names(sqlite_engine)
    assert sorted(names) == ["alice@example.com", "dave@example.com", "erin@example.com", "frank@example.com"]
    assert names["dave@example.com"] == ("Dave", "Davis")
    assert report.rows == 5 and report.invalid_rows == 1
    [error] = report.errors
    assert error.row == 3 and "quote" in error.reason


def test_text_after_a_closing_quote_rejects_only_that_row(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        'email,first_name\n"bob@example.com"x,Bob\nann@example.com,Ann\n',
        encoding="utf-8",
    )
    report = import_contacts(sqlite_engine, path)
    assert list(_names(sqlite_engine)) == ["ann@example.com"]
    assert [e.row for e in report.errors] == [2]


def test_a_ten_megabyte_cell_rejects_its_row_not_the_file(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    huge = "x" * 10_000_000
    path.write_text(
        f"email,first_name,last_name\nann@example.com,Ann,A\nbig@example.com,Big,{huge}\nzed@example.com,Zed,Z\n",
        encoding="utf-8",
    )
    report = import_contacts(sqlite_engine, path)
    assert sorted(_names(sqlite_engine)) == ["ann@example.com", "zed@example.com"]
    [error] = report.errors
    assert (
        error.row == 3 and "10,000,000 characters" in error.reason and f"{MAX_CELL_CHARS:,}" in error.reason
    )


def test_quoted_values_after_a_space_lose_their_quotes(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text('email, first_name, last_name\nann@example.com, "Ann", "Foo 3"\n', encoding="utf-8")
    import_contacts(sqlite_engine, path)
    assert _names(sqlite_engine) == {"ann@example.com": ("Ann", "Foo 3")}


def test_mailchimp_json_lines_export_imports_its_members(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "members.json"
    rows = [
        ["Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME"],
        ["ann@example.com", "Ann", "Adams", 2, "2026-01-02 10:00:00"],
        ["bob@example.com", "Bob", None, 5, "2026-02-03 11:00:00"],
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = import_contacts(sqlite_engine, path)
    assert report.invalid_rows == 0 and report.inserted == 2
    assert _names(sqlite_engine) == {"ann@example.com": ("Ann", "Adams"), "bob@example.com": ("Bob", None)}


def test_invalid_utf16_after_a_utf16_bom_is_one_line_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    upgrade(make_engine(f"sqlite:///{home / 'aicmo.db'}"))
    path = tmp_path / "broken.csv"
    path.write_bytes(
        codecs.BOM_UTF16_LE + "email\n".encode("utf-16-le") + b"\x00\xdc"
    )  # a lone low surrogate
    env = {**os.environ, "AICMO_HOME": str(home)}
    env.pop("AICMO_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", "from aicmo.cli import main; main()", "contacts", "import", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0
    assert "broken.csv" in done.stderr and "UTF-16" in done.stderr
