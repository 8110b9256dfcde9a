"""``aicmo demo``: generate a small dataset and run every flow of the pipeline on it."""

from __future__ import annotations

from datetime import date

import typer

from aicmo.cli.commands.options import day_option


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the top-level app."""

    @app.command("demo")
    def demo_cmd(
        contacts: int = typer.Option(5000, min=100, help="Contacts to generate."),
        days: int = typer.Option(90, min=7, help="Days of history to generate."),
        seed: int = typer.Option(7, help="Random seed (same seed, same data)."),
        end: date | None = day_option("--end", "Last day (UTC); default yesterday."),
    ) -> None:
        """Generate ~5k contacts and 90 days of history, then run the whole pipeline and summarize it."""
        from aicmo.cli.demo import run_demo

        run_demo(contacts=contacts, days=days, seed=seed, end=end)
