"""The progress callback every layer may report through; the CLI draws it as a bar, flows as artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Advance(Protocol):
    """Moves a progress display by ``n`` units of work."""

    def __call__(self, n: int = 1) -> None: ...


def no_progress(n: int = 1) -> None:
    """An ``Advance`` that shows nothing, for callers without a display."""


ARTIFACT_STEP = 5.0  # percent between two updates of a progress artifact (each is an API call)


@contextmanager
def progress_artifact(key: str, description: str, total: int) -> Iterator[Advance]:
    """A Prefect progress artifact (in a flow or task run) advanced in units of ``total``, updated
    every ``ARTIFACT_STEP`` percent and set to 100 when the block ends without an error."""
    from uuid import UUID

    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    artifact = create_progress_artifact(0.0, key=key, description=description)
    assert isinstance(artifact, UUID)  # a sync run gets the id, not a coroutine
    done = 0
    shown = 0.0

    def advance(n: int = 1) -> None:
        nonlocal done, shown
        done += n
        percent = min(100.0, 100.0 * done / max(1, total))
        if percent - shown >= ARTIFACT_STEP:
            shown = percent
            update_progress_artifact(artifact, percent)

    yield advance
    update_progress_artifact(artifact, 100.0)
