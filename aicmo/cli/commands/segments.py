"""``aicmo segments``: check, preview, save and list declarative segments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from aicmo.cli.console import console
from aicmo.cli.tables import frame_table, rows_table
from aicmo.wiring import engine

app = typer.Typer(
    help="Declarative segments over contacts (JSON/YAML filter definitions).", no_args_is_help=True
)


def _definition(name_or_file: str) -> Any:
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm.segment_store import get_segment
    from aicmo.tasks.crm.segments import load_definition

    path = Path(name_or_file)
    if path.suffix.lower() in (".json", ".yaml", ".yml") or path.is_file():
        return load_definition(path)
    with transaction(engine()) as session:
        return get_segment(session, name_or_file)


@app.command("preview")
def preview_cmd(
    segment: str = typer.Argument(..., help="Saved segment NAME or a definition FILE (.json/.yaml)."),
    sample: int = typer.Option(10, "--sample", min=0, help="Contacts to show."),
) -> None:
    """Show how many contacts a segment holds, and a sample."""
    from aicmo.tasks.crm.segment_store import preview

    result = preview(engine(), _definition(segment), sample=sample)
    console.print(f"{result.count} of {result.total} contact(s) match")
    if result.sample.height:
        console.print(frame_table(result.sample))


@app.command("save")
def save_cmd(
    name: str = typer.Argument(..., help="Segment name."),
    file: Path = typer.Argument(..., help="Definition file (.json/.yaml)."),
    description: str | None = typer.Option(None, "--description", help="What the segment is for."),
) -> None:
    """Check a definition and save it under NAME."""
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm.segment_store import save_segment
    from aicmo.tasks.crm.segments import load_definition

    definition = load_definition(file)
    with transaction(engine()) as session:
        save_segment(session, name, definition, description)
    console.print(escape(f"segment {name!r} saved"))


@app.command("list")
def list_cmd() -> None:
    """List saved segments."""
    from aicmo.storage.db import transaction
    from aicmo.tasks.crm.segment_store import list_segments

    with transaction(engine()) as session:
        segments = list_segments(session)
    if not segments:
        console.print("no segments saved")
        return
    rows = [{"name": s.name, "description": s.description or "", "updated": s.updated_at} for s in segments]
    console.print(rows_table(rows))
