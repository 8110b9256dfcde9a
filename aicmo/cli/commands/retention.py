"""``aicmo retention``: see, then apply, what the retention settings remove from the lake and the store."""

from __future__ import annotations

from datetime import date

import typer

from aicmo.cli.commands.options import day_option
from aicmo.cli.console import console
from aicmo.cli.tables import rows_table

app = typer.Typer(help="Age the lake and the store per the AICMO_RETENTION_* settings.", no_args_is_help=True)


@app.command("run")
def run_cmd(
    apply: bool = typer.Option(
        False, "--apply", help="Remove the data; without it, only report what would go."
    ),
    as_of: date | None = day_option("--as-of", "Day ages are measured from; default today."),
) -> None:
    """Report (default) or apply what retention removes: old partitions, personal data in old events, old rows."""
    from aicmo.clock import today
    from aicmo.settings import get_settings
    from aicmo.tasks.retention.policy import apply_retention
    from aicmo.wiring import engine, lake

    day = as_of or today()
    if apply:
        from aicmo.flows.retention import retention

        rows = retention(dry_run=False, as_of=day)["lines"]
    else:
        lines = apply_retention(engine(), lake(), get_settings().retention, day, apply=False)
        rows = [line.as_row() for line in lines]
    title = f"retention as of {day}: " + ("removed" if apply else "would remove (dry run, nothing changed)")
    console.print(rows_table(rows, title=title))
