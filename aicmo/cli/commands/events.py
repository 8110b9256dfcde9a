"""``aicmo events``: import provider event exports through the tracking service's parsers."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from aicmo.cli.console import console, err_console
from aicmo.wiring import engine, lake

app = typer.Typer(help="Import provider event exports into the lake.", no_args_is_help=True)


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="JSON array or JSON-lines file of one provider's events."),
    # the importer's FORMATS, spelled out so that --help loads no parser (tests/cli/test_startup.py)
    fmt: str = typer.Option(..., "--format", help="Provider: sendgrid|mailgun|postmark|ses|twilio."),
) -> None:
    """Import events; bad records are listed (file:line) and make the exit code 1, good ones go in."""
    from aicmo.tasks.tracking.importer import import_events

    report = import_events(file, fmt, lake(), engine())
    table = Table(title=f"{escape(file.name)} ({fmt})")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for name, value in (
        ("records", report.records),
        ("events", report.events),
        ("new in the lake", report.written),
        ("already in the lake", report.duplicates),
        ("records of other kinds", report.skipped),
        ("consent/suppression changes", report.consent_changes),
        ("bad records", len(report.errors)),
    ):
        table.add_row(name, str(value))
    console.print(table)
    for error in report.errors[:50]:
        err_console.print(escape(error), highlight=False, soft_wrap=True)
    if len(report.errors) > 50:
        err_console.print(f"... and {len(report.errors) - 50} more bad records")
    if report.errors:
        raise typer.Exit(1)
