"""The progress callback every layer may report through; the CLI draws it as a bar, flows as artifacts."""

from __future__ import annotations

from typing import Protocol


class Advance(Protocol):
    """Moves a progress display by ``n`` units of work."""

    def __call__(self, n: int = 1) -> None: ...


def no_progress(n: int = 1) -> None:
    """An ``Advance`` that shows nothing, for callers without a display."""
