"""The CLI's console and progress bars (rich), shared by every command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from aicmo.progress import Advance

# Piped output (CI logs, `make demo | tee`) gets a width that fits the summary tables.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Advance]:
    """A rich progress bar on stderr; yields a function that advances it."""
    from rich.progress import (
        BarColumn,
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
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            progress.advance(task, n)

        yield advance
