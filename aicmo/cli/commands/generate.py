"""``aicmo generate``: write a deterministic sample dataset into the store and the lake."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date
from types import TracebackType

import typer
from rich.table import Table

from aicmo.cli.commands.options import day_option
from aicmo.cli.console import console, progress_bar
from aicmo.progress import Advance


class StageBars:
    """A rich progress bar per stage of the generator, opened when the stage reports first."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._stage: str | None = None
        self._advance: Advance | None = None
        self._done = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self._stack.close()
            self._stack = ExitStack()
            self._advance = self._stack.enter_context(progress_bar(stage, max(total, 1)))
            self._stage, self._done = stage, 0
        if self._advance is not None and done > self._done:
            self._advance(done - self._done)
            self._done = done

    def __enter__(self) -> StageBars:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()


def register(app: typer.Typer) -> None:
    """Add ``generate`` to the top-level app."""

    @app.command("generate")
    def generate_cmd(
        contacts: int = typer.Option(5000, "--contacts", min=10, help="Contacts to generate."),
        days: int = typer.Option(90, "--days", min=7, help="Days of activity, ending --end."),
        seed: int = typer.Option(7, "--seed", min=0, help="Random seed: same seed and options, same data."),
        end: date | None = day_option("--end", "Last day (UTC); default yesterday."),
    ) -> None:
        """Write a realistic, deterministic sample dataset (contacts, campaigns, events, orders, ad spend, creatives)."""
        from aicmo.tasks.sample.configured_store import generate_into_configured_store

        with StageBars() as bars:
            summary = generate_into_configured_store(contacts, days, seed, end, progress=bars)
        table = Table(title=f"sample data {summary.start} .. {summary.end} (seed {summary.seed})")
        table.add_column("what")
        table.add_column("rows", justify="right")
        for name, count in summary.counts().items():
            table.add_row(name, f"{count:,}")
        console.print(table)
        elapsed = sum(summary.seconds.values())
        console.print(
            f"{summary.events:,} events in {elapsed:.1f} s; ground truth in {summary.truth_path}; "
            f"anomaly day {summary.truth.anomaly_day}, broken campaign #{summary.truth.broken_campaign_id}"
        )
