"""Pacing: the daily budget lands the flight on its total, follows the weekday pattern, flags over/under pacing."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from aicmo.errors import InputError
from aicmo.tasks.ads.pacing import UNIFORM, Flight, pace, pace_flights, weekday_weights

START = date(2026, 11, 2)  # a Monday


def _spend(
    days: int, per_day: float | list[float], start: date = START, campaign: str = "Brand"
) -> pl.DataFrame:
    values = per_day if isinstance(per_day, list) else [per_day] * days
    return pl.DataFrame(
        {
            "date": [start + timedelta(days=i) for i in range(days)],
            "platform": ["google_ads"] * days,
            "campaign": [campaign] * days,
            "spend": values,
        }
    )


def test_on_pace_flight_keeps_its_daily_budget_and_spending_the_schedule_lands_on_the_total() -> None:
    flight = Flight("Brand", 3000.0, START, START + timedelta(days=29))
    result = pace(flight, _spend(10, 100.0), START + timedelta(days=10))
    assert result.status == "on_pace" and result.pace == pytest.approx(1.0)
    assert result.today_budget == pytest.approx(100.0)
    assert result.spent + sum(b for _, b in result.schedule) == pytest.approx(3000.0)


def test_overspend_is_flagged_and_the_rest_of_the_flight_spends_less() -> None:
    flight = Flight("Brand", 3000.0, START, START + timedelta(days=29))
    result = pace(flight, _spend(10, 150.0), START + timedelta(days=10), tolerance=0.1)
    assert result.status == "over" and result.pace == pytest.approx(1.5)
    assert result.today_budget == pytest.approx((3000 - 1500) / 20)


def test_underspend_is_flagged_within_tolerance_only() -> None:
    flight = Flight("Brand", 3000.0, START, START + timedelta(days=29))
    assert pace(flight, _spend(10, 92.0), START + timedelta(days=10), tolerance=0.1).status == "on_pace"
    assert pace(flight, _spend(10, 85.0), START + timedelta(days=10), tolerance=0.1).status == "under"


def test_weekday_pattern_from_history_shapes_the_schedule() -> None:
    # Four weeks where weekends spend half of weekdays.
    history = _spend(28, [50.0 if (START + timedelta(days=i)).weekday() >= 5 else 100.0 for i in range(28)])
    weights = weekday_weights(history)
    assert weights[5] == pytest.approx(weights[0] / 2) and sum(weights) == pytest.approx(7.0)
    flight = Flight("Brand", 1200.0, date(2026, 12, 7), date(2026, 12, 13))  # Monday..Sunday
    result = pace(flight, history.filter(pl.col("date") > date(2027, 1, 1)), date(2026, 12, 7), weights)
    budgets = dict(result.schedule)
    assert budgets[date(2026, 12, 12)] == pytest.approx(budgets[date(2026, 12, 7)] / 2)
    assert sum(budgets.values()) == pytest.approx(1200.0)


def test_short_history_means_uniform_weights() -> None:
    assert weekday_weights(_spend(10, 100.0)) == UNIFORM


def test_pace_flights_reads_lake_rows_per_campaign() -> None:
    rows = pl.concat([_spend(10, 100.0), _spend(10, 40.0, campaign="Shopping")])
    flights = [
        Flight("Brand", 3000.0, START, START + timedelta(days=29)),
        Flight("Shopping", 3000.0, START, START + timedelta(days=29)),
    ]
    brand, shopping = pace_flights(flights, rows.lazy(), START + timedelta(days=10))
    assert (brand.status, shopping.status) == ("on_pace", "under")
    assert shopping.today_budget > brand.today_budget


def test_bad_flight_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"ends .* before it starts"):
        Flight("Brand", 100.0, date(2026, 12, 2), date(2026, 12, 1))
