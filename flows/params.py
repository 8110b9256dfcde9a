"""Constrained parameter types of the flows, so the Prefect UI form shows limits and refuses bad values.

Prefect turns a flow's signature into the deployment's parameter schema: ``Annotated[..., Field(ge=...)]``
becomes ``minimum``/``maximum``, a ``Literal`` an ``enum``, a ``date`` a date picker; the help text
comes from each flow's docstring (its ``Args:`` section). The same types validate a run's parameters
before the flow body starts, so a bad value fails the run at once with one line per parameter.
What a schema cannot say (an end before its start) each flow checks first with :func:`check_range`.

Dates are ``Day``: the server checks run parameters against the schema without checking formats, so
``format: date`` alone lets ``start=notadate`` through to fail on a worker; the pattern makes the
server refuse it (409) before a run is created.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from aicmo.errors import InputError

DAY_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
Day = Annotated[date, Field(json_schema_extra={"pattern": DAY_PATTERN})]
BatchSize = Annotated[int, Field(ge=1, le=100_000)]
StaleAfterDays = Annotated[int, Field(ge=0, le=3650)]  # 0: every enriched contact is due now
MaxParallel = Annotated[int, Field(ge=1, le=16)]
SampleContacts = Annotated[int, Field(ge=10, le=2_000_000)]
SampleDays = Annotated[int, Field(ge=7, le=3650)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
RevenueSource = Literal["charges", "payment_intents"]
Reprocess = Literal["none", "failed", "all"]
# What a backfill can redo for a past day; ``score`` runs once, as of the last day, after the days.
BackfillStep = Literal["aggregate", "ads", "score"]
BACKFILL_STEPS: tuple[BackfillStep, ...] = ("aggregate", "ads", "score")
MAX_BACKFILL_DAYS = 3660


def check_range(start: date | None, end: date | None, *, max_days: int | None = None) -> None:
    """Refuse ``end`` before ``start`` (and a span over ``max_days``) with one line naming both."""
    if start is not None and end is not None:
        if end < start:
            raise InputError(f"end {end} is before start {start}")
        if max_days is not None and (end - start).days + 1 > max_days:
            raise InputError(f"{start}..{end} spans more than {max_days} days; split it")
