"""Every command's --help page: renders, explains itself, and shows no internal type labels."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from aicmo.cli.app import _register, app


def _command_paths() -> list[list[str]]:
    _register()
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "aicmo")
def test_help_page_renders_without_type_labels(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "<bool>" not in result.output and "<str>" not in result.output and "<int>" not in result.output
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage
