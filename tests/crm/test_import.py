"""CSV import with real files: encodings, BOM, semicolons, aliases, bad rows, duplicates, reimport."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine, func, select

from aicmo.errors import InputError
from aicmo.models.crm import Contact, LifecycleChange
from aicmo.models.runs import AuditRecord
from aicmo.storage.db import make_engine, transaction
from aicmo.storage.migrate import upgrade
from aicmo.tasks.crm.csv_import import import_contacts
from aicmo.tasks.crm.suppression import suppress
from tests.crm.helpers import run_cli


def _contacts(engine: Engine) -> dict[str, Contact]:
    with transaction(engine) as session:
        return {c.email: c for c in session.scalars(select(Contact))}


def test_latin1_semicolon_file_with_german_headers(engine: Engine, data_dir: Path) -> None:
    report = import_contacts(engine, data_dir / "latin1_semicolon.csv")
    assert (report.encoding, report.delimiter) == ("cp1252", ";")
    assert report.counts()["inserted"] == 4 and report.errors == []
    people = _contacts(engine)
    assert set(people) == {
        "jürgen.müller@example.de",
        "renée@exemple.fr",
        "françois@example.fr",
        "anna@example.de",
    }
    j = people["jürgen.müller@example.de"]
    assert (j.first_name, j.last_name, j.company_name) == ("Jürgen", "Müller", "Bäckerei Müller GmbH")
    assert j.phone == "+49301234567" and j.country == "DE" and j.tags == ["kunde", "neu"]
    assert people["renée@exemple.fr"].phone == "+33123456789"
    assert people["anna@example.de"].last_name == "Groß"


def test_utf8_bom_comma_file_with_aliases_full_names_and_idn(engine: Engine, data_dir: Path) -> None:
    report = import_contacts(engine, data_dir / "utf8_bom_comma.csv")
    assert (report.encoding, report.delimiter) == ("utf-8-sig", ",")
    # carol@bücher.de and dave@xn--bcher-kva.de share the Unicode domain form
    people = _contacts(engine)
    assert set(people) == {"alice@example.com", "bob@example.com", "carol@bücher.de", "dave@bücher.de"}
    alice, bob = people["alice@example.com"], people["bob@example.com"]
    assert (alice.first_name, alice.last_name, alice.tags) == ("Alice", "Smith", ["vip", "beta"])
    assert (bob.first_name, bob.last_name) == ("Bob", "Jones")
    assert alice.lifecycle_stage == "lead" and bob.lifecycle_stage == "customer"
    assert people["carol@bücher.de"].lifecycle_stage == "subscriber"
    with transaction(engine) as session:
        first = session.scalars(select(LifecycleChange).where(LifecycleChange.contact_id == bob.id)).one()
        initial = session.scalars(
            select(LifecycleChange.contact_id).where(LifecycleChange.from_stage.is_(None))
        )
        assert sorted(initial) == sorted(p.id for p in people.values())  # one initial row per new contact
    assert (first.from_stage, first.to_stage, first.reason) == (None, "customer", "import")
    assert first.changed_at == bob.lifecycle_changed_at  # the same import timestamp on both


def test_excel_cp1252_file_with_sep_hint_and_cr_line_endings(engine: Engine, data_dir: Path) -> None:
    report = import_contacts(engine, data_dir / "excel_cp1252_sep_cr.csv")
    assert (report.encoding, report.delimiter, report.inserted) == ("cp1252", ";", 2)
    people = _contacts(engine)
    zoe = people["zoe@example.eu"]
    assert (zoe.first_name, zoe.last_name, zoe.company_name, zoe.city) == (
        "Zoë",
        "Œuvre",
        "Prix 5€ Ltd",
        "Köln",
    )
    assert people["max@example.eu"].company_name == "„Quotes“ GmbH"


def test_row_numbers_count_the_sep_line(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text("sep=,\nemail\nok@example.com\nbroken\n", encoding="utf-8")
    report = import_contacts(engine, f)
    assert [(e.row, e.field) for e in report.errors] == [(4, "email")]


def test_twenty_percent_bad_file_imports_good_rows_and_reports_bad_ones(
    engine: Engine, data_dir: Path, tmp_path: Path
) -> None:
    errors_path = tmp_path / "errors.csv"
    report = import_contacts(
        engine, data_dir / "twenty_percent_bad.csv", errors_path=errors_path, batch_size=7
    )
    counts = report.counts()
    assert counts["rows"] == 50 and counts["invalid_rows"] == 10 and counts["valid_rows"] == 40
    assert counts["duplicates_merged"] == 2 and counts["inserted"] == 38
    with errors_path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    got = {(int(r["row"]), r["field"]) for r in rows}
    assert got == {
        (4, "email"),
        (9, "email"),
        (14, "email"),
        (19, "phone"),
        (24, "email"),
        (29, "lifecycle_stage"),
        (34, "email"),
        (39, "phone"),
        (44, "country"),
        (49, "email"),
    }
    assert all(r["reason"] for r in rows)
    people = _contacts(engine)
    assert len(people) == 38
    assert "ok18@example.com" not in people and "user4@example.com" in people
    merged = people["user10@example.com"]  # rows 11 and 21
    assert merged.phone == "+442079460000" and merged.first_name == "First20"
    assert merged.tags == ["t1", "t2"]


def test_reimport_changes_nothing_and_a_changed_row_updates_only_that_contact(
    engine: Engine, data_dir: Path, tmp_path: Path
) -> None:
    src = data_dir / "utf8_bom_comma.csv"
    import_contacts(engine, src)
    before = {e: c.updated_at for e, c in _contacts(engine).items()}
    again = import_contacts(engine, src)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert {e: c.updated_at for e, c in _contacts(engine).items()} == before

    changed = tmp_path / "changed.csv"
    text = src.read_text(encoding="utf-8-sig").replace("Carol König,Bücher GmbH", "Carol König,Neu GmbH")
    changed.write_text(text, encoding="utf-8-sig")
    third = import_contacts(engine, changed)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 3)
    after = _contacts(engine)
    assert after["carol@bücher.de"].company_name == "Neu GmbH"
    assert after["carol@bücher.de"].updated_at > before["carol@bücher.de"]
    assert {e: c.updated_at for e, c in after.items() if e != "carol@bücher.de"} == {
        e: t for e, t in before.items() if e != "carol@bücher.de"
    }


def test_stage_moves_backwards_are_row_errors_and_audit_is_written(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "a.csv"
    f.write_text("email,stage\nx@example.com,customer\n", encoding="utf-8")
    import_contacts(engine, f)
    f.write_text("email,stage\nx@example.com,subscriber\n", encoding="utf-8")
    report = import_contacts(engine, f)
    assert report.invalid_rows == 1
    assert [(e.row, e.field) for e in report.errors] == [(2, "lifecycle_stage")]
    assert "'customer'" in report.errors[0].reason and "'subscriber'" in report.errors[0].reason
    assert _contacts(engine)["x@example.com"].lifecycle_stage == "customer"
    with transaction(engine) as session:
        audits = list(session.scalars(select(AuditRecord).where(AuditRecord.action == "contacts.import")))
    assert len(audits) == 2 and "x@example.com" not in str(audits[0].details)


def test_suppressed_addresses_import_flagged(engine: Engine, tmp_path: Path) -> None:
    with transaction(engine) as session:
        suppress(session, "Bounce@Example.com", "email", "hard_bounce")
    f = tmp_path / "s.csv"
    f.write_text("email\nbounce@example.com\nfine@example.com\n", encoding="utf-8")
    report = import_contacts(engine, f)
    assert report.flagged_suppressed == 1
    people = _contacts(engine)
    assert (
        people["bounce@example.com"].suppressed
        and people["bounce@example.com"].suppression_reason == "hard_bounce"
    )
    assert not people["fine@example.com"].suppressed


def test_unreadable_inputs_raise_input_errors_naming_the_file(tmp_path: Path, sqlite_engine: Engine) -> None:
    png = tmp_path / "photo.png"
    Image.new("RGB", (8, 8), "red").save(png)
    no_email = tmp_path / "orders.csv"
    no_email.write_text("order,amount\n1,2\n", encoding="utf-8")
    for path, words in (
        (tmp_path / "missing.csv", "file not found"),
        (png, "not a CSV"),
        (no_email, "no email column"),
    ):
        with pytest.raises(InputError) as info:
            import_contacts(sqlite_engine, path)
        assert path.name in str(info.value) and words in str(info.value)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AICMO_HOME": str(home)}
    env.pop("AICMO_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "from aicmo.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_cli_missing_file_is_one_line_and_exit_1_in_a_real_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    upgrade(make_engine(f"sqlite:///{home / 'aicmo.db'}"))
    missing = _cli(home, "contacts", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "nope.csv: file not found" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_cli_import_exit_codes_and_one_line_errors(
    aicmo_home: Path,
    tmp_path: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    aicmo_home.mkdir(parents=True, exist_ok=True)  # the store's folder must exist
    upgrade(make_engine(f"sqlite:///{aicmo_home / 'aicmo.db'}"))
    png = tmp_path / "x.png"
    Image.new("RGB", (4, 4)).save(png)
    code, _, err = run_cli(capsys, "contacts", "import", str(png))
    assert code == 1 and "not a CSV" in err and "Traceback" not in err and err.strip().count("\n") == 0

    errors = tmp_path / "bad-rows.csv"
    code, out, err = run_cli(
        capsys, "contacts", "import", str(data_dir / "twenty_percent_bad.csv"), "--errors", str(errors)
    )
    assert code == 1, err
    assert "10 bad row(s)" in err and errors.exists()
    assert "inserted" in out and "38" in out
    engine = make_engine(f"sqlite:///{aicmo_home / 'aicmo.db'}")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Contact)) == 38
    code, _, err = run_cli(capsys, "contacts", "import", str(data_dir / "utf8_bom_comma.csv"))
    assert code == 0, err
