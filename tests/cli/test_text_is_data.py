"""Values from files and APIs print as themselves: never console markup, one number format per column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from aicmo.cli.tables import rows_table
from tests.crm.helpers import run_cli

HOSTILE = ["[/]", "[bold]x[/bold]", "shipit[bot]", "[link=https://evil.example]click[/link]"]


def _render(table: object) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_table_cells_are_text_and_numbers_share_a_format_per_column() -> None:
    rows = [
        {"provider": HOSTILE[2], "calls": 1200, "score": 0.123456789012345, "revenue": 9.0},
        {"provider": HOSTILE[0], "calls": 3, "score": 2.5, "revenue": 53.0},
    ]
    text = _render(rows_table(rows, title=HOSTILE[1]))
    assert HOSTILE[1] in text and HOSTILE[2] in text and HOSTILE[0] in text
    assert "1,200" in text and "0.1235" in text and "2.5000" in text
    assert "  9.00 " in text and " 53.00 " in text and "9.0000" not in text  # one format down the column
    assert "0.123456789" not in text


def test_names_from_a_csv_print_literally_in_segment_preview(
    aicmo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    csv = tmp_path / "people.csv"
    lines = ["email,first_name,last_name"]
    lines += [f"p{i}@example.com,{json.dumps(name)},Doe" for i, name in enumerate(HOSTILE)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "contacts", "import", str(csv))
    assert code == 0, err
    segment = tmp_path / "all.json"
    segment.write_text(json.dumps({"lifecycle_stage": ["subscriber"]}), encoding="utf-8")
    code, out, err = run_cli(capsys, "segments", "preview", str(segment), "--sample", "10")
    assert code == 0, err
    for name in HOSTILE:
        assert name in out, out
