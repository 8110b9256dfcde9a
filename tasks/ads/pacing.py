"""Budget pacing: how much a campaign should spend today to land on its total budget at the end of
its flight, given what it has spent so far and the day-of-week pattern its spend follows.

The weekday pattern comes from history (mean spend per weekday, normalized to a mean of 1);
with less than two weeks of history every weekday weighs the same. Today's budget is the
remaining budget times today's weight over the weights of the remaining days (today included).
The expected spend to date is the total times the weights of the elapsed days over the weights of
the whole flight; spend beyond ``1 + tolerance`` of that is over-pacing, below ``1 - tolerance``
under-pacing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import polars as pl
from sqlalchemy import Engine

from aicmo.errors import InputError

MIN_HISTORY_DAYS = 14
UNIFORM = (1.0,) * 7


@dataclass(frozen=True)
class Flight:
    """A campaign's total budget between two days (inclusive), in the reporting currency."""

    campaign: str
    total_budget: float
    start: date
    end: date
    platform: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InputError(
                f"campaign {self.campaign!r}: flight ends ({self.end}) before it starts ({self.start})"
            )
        if self.total_budget <= 0:
            raise InputError(
                f"campaign {self.campaign!r}: total budget must be positive, got {self.total_budget}"
            )


@dataclass(frozen=True)
class Pacing:
    """Where a flight stands on ``today`` and what to spend from here on."""

    flight: Flight
    today: date
    spent: float
    expected_to_date: float
    remaining_budget: float
    remaining_days: int
    today_budget: float
    pace: float  # spent / expected_to_date (1.0 = on pace; nan before the flight)
    status: Literal["on_pace", "over", "under", "not_started", "ended"]
    schedule: list[tuple[date, float]]  # the remaining days' budgets, today first

    def row(self) -> dict[str, object]:
        """A flat row for tables and artifacts."""
        return {
            "campaign": self.flight.campaign,
            "platform": self.flight.platform or "",
            "start": self.flight.start,
            "end": self.flight.end,
            "total_budget": self.flight.total_budget,
            "spent": round(self.spent, 2),
            "expected_to_date": round(self.expected_to_date, 2),
            "pace": round(self.pace, 3),
            "status": self.status,
            "remaining_days": self.remaining_days,
            "remaining_budget": round(self.remaining_budget, 2),
            "today_budget": round(self.today_budget, 2),
        }


def weekday_weights(
    history: pl.DataFrame | pl.LazyFrame, min_days: int = MIN_HISTORY_DAYS
) -> tuple[float, ...]:
    """Monday-first weights of daily spend (mean 1) from ``date``/``spend`` rows; uniform if too little history."""
    daily = history.lazy().group_by("date").agg(pl.col("spend").sum()).collect()
    if daily.height < min_days or daily["spend"].sum() <= 0:
        return UNIFORM
    by_weekday = (
        daily.group_by(pl.col("date").dt.weekday().alias("wd")).agg(pl.col("spend").mean()).sort("wd")
    )
    means = dict(zip(by_weekday["wd"].to_list(), by_weekday["spend"].to_list(), strict=True))
    raw = [max(float(means.get(d, 0.0) or 0.0), 0.0) for d in range(1, 8)]
    mean = sum(raw) / 7
    if mean <= 0:
        return UNIFORM
    # A weekday with no spend in history still gets a little budget (floor at 10% of the mean).
    return tuple(max(w / mean, 0.1) for w in raw)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def pace(
    flight: Flight,
    daily_spend: pl.DataFrame,
    today: date,
    weights: tuple[float, ...] = UNIFORM,
    tolerance: float = 0.1,
) -> Pacing:
    """Pacing of ``flight`` on ``today`` from its ``date``/``spend`` rows (spend on days before today counts)."""
    spent_rows = daily_spend.filter(
        (pl.col("date") >= flight.start) & (pl.col("date") < min(today, flight.end + timedelta(days=1)))
    )
    spent = float(spent_rows["spend"].sum() or 0.0)
    w = {d: weights[d.weekday()] for d in _days(flight.start, flight.end)}
    total_w = sum(w.values())
    elapsed = [d for d in w if d < today]
    expected = flight.total_budget * sum(w[d] for d in elapsed) / total_w
    remaining_budget = max(flight.total_budget - spent, 0.0)
    remaining = [d for d in w if d >= today]
    remaining_w = sum(w[d] for d in remaining)
    schedule = [(d, remaining_budget * w[d] / remaining_w) for d in remaining] if remaining_w else []
    if today < flight.start:
        status: Literal["on_pace", "over", "under", "not_started", "ended"] = "not_started"
        ratio = float("nan")
    else:
        ratio = spent / expected if expected > 0 else float("nan")
        if today > flight.end:
            status = "ended"
        elif ratio > 1 + tolerance:
            status = "over"
        elif ratio < 1 - tolerance:
            status = "under"
        else:
            status = "on_pace"
    return Pacing(
        flight=flight,
        today=today,
        spent=spent,
        expected_to_date=expected,
        remaining_budget=remaining_budget,
        remaining_days=len(remaining),
        today_budget=schedule[0][1] if schedule and schedule[0][0] == today else 0.0,
        pace=ratio,
        status=status,
        schedule=schedule,
    )


def pace_flights(
    flights: list[Flight], ad_spend: pl.LazyFrame, today: date, tolerance: float = 0.1
) -> list[Pacing]:
    """Pacing of each flight from the lake's ``ad_spend`` (matched on campaign name, and platform if set).

    The weekday pattern is each campaign's own when it has two weeks of history, else that of all
    ad spend before ``today``.
    """
    before = ad_spend.filter(pl.col("date") < today).select("date", "platform", "campaign", "spend")
    frame = before.collect()
    overall = weekday_weights(frame)
    out = []
    for flight in flights:
        mine = frame.filter(pl.col("campaign") == flight.campaign)
        if flight.platform:
            mine = mine.filter(pl.col("platform") == flight.platform)
        daily = mine.group_by("date").agg(pl.col("spend").sum())
        own = weekday_weights(daily)
        out.append(pace(flight, daily, today, own if own != UNIFORM else overall, tolerance))
    return out


def store_flights(engine: Engine) -> list[Flight]:
    """Flights of the store's ads campaigns that have a budget and flight dates."""
    from aicmo.storage.ads import ad_campaign_flights
    from aicmo.storage.db import transaction

    with transaction(engine) as session:
        return [Flight(name, budget, start, end) for name, budget, start, end in ad_campaign_flights(session)]
