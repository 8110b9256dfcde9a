"""Tests and benchmarks never depend on the day they run: every generated window names its end day.

A window ending "yesterday" changes its data and weekday alignment every day, so a test on it can
pass one day and fail the next on the same commit. This reads the source of ``tests/`` and
``benchmarks/`` (no import, no run) and lists each offending call with its file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATORS = {"generate_dataset", "generate_into_configured_store", "generate_sample_data", "run_demo"}
"""Functions whose window ends "yesterday" unless ``end`` is given."""
CLI_COMMANDS = {"generate", "demo"}


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            keywords = {k.arg for k in node.keywords}
            if name in GENERATORS and "end" not in keywords and None not in keywords:
                found.append(f"{where}:{node.lineno}: {name}(...) without end=")
            if (
                name == "today"
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in {"date", "datetime"}
            ):
                found.append(f"{where}:{node.lineno}: {node.func.value.id}.today()")
        if isinstance(node, ast.List) and node.elts:
            first = node.elts[0]
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if (
                isinstance(first, ast.Constant)
                and first.value in CLI_COMMANDS
                and "--end" not in words
                and "--help" not in words
            ):
                found.append(f"{where}:{node.lineno}: 'aicmo {first.value}' without --end")
    return found


def test_no_test_or_benchmark_generates_a_window_ending_today() -> None:
    files = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])
    assert len(files) > 20
    offences = [line for path in files for line in _offences(path)]
    assert not offences, "\n".join(offences)
