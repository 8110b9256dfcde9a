"""``aicmo generate`` and ``aicmo demo``: sample data and the whole pipeline on it."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the data commands to the top-level app."""
