"""The CLI's console and progress bars (rich), shared by every command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console

from aicmo.progress import Advance

# Piped output (CI logs, `make demo | tee`) gets a width that fits the summary tables.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None, *, in_bytes: bool = False) -> Iterator[Advance]:
    """A rich progress bar on stderr; yields a function that advances it (``in_bytes``: the units
    are bytes, shown as "12.3/68.6 MB")."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        try:
            yield advance
        except Exception as exc:
            if not isinstance(exc, click.exceptions.Exit):  # an error, not a chosen exit code
                progress.live.transient = True  # the error is the last word: no half-drawn bar above it
            raise
