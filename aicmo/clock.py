"""The calendar clock behind every "default: today / yesterday" of the pipeline.

Production code that defaults a date to today (the generator's window end, the daily run date,
the scoring day) reads it here instead of calling ``datetime.now`` itself, so a test or a replay
can pin "today" with :func:`frozen` and the same inputs give the same data on any calendar day.
Wall-clock timestamps (``created_at``, retry waits, cache expiry) keep reading the real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current time in UTC, or the frozen one inside :func:`frozen`."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def today() -> date:
    """Today's date in UTC (frozen inside :func:`frozen`)."""
    return now().date()


@contextmanager
def frozen(at: datetime | date) -> Iterator[datetime]:
    """Pin :func:`now` and :func:`today` to ``at`` (a date means its midnight UTC) for the block.

    Process-wide (not per thread), so Prefect tasks run in worker threads see the same "today".
    """
    global _frozen
    if not isinstance(at, datetime):
        at = datetime(at.year, at.month, at.day, tzinfo=UTC)
    elif at.tzinfo is None:
        raise ValueError(f"frozen(): {at.isoformat()} has no time zone; pass an aware datetime")
    previous, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield _frozen
    finally:
        _frozen = previous
