"""Trends: moving averages, week-over-week, seasonal anomalies (spike yes, weekends no), broken campaigns."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from aicmo.tasks.analytics.trends import (
    anomalies,
    campaign_anomalies,
    daily_series,
    plot_trends,
    seasonal_anomalies,
    trend_table,
)

START = date(2026, 1, 5)  # a Monday
SPIKE = date(2026, 3, 4)
WEEKDAY_VOLUME = [1.0, 1.0, 1.0, 1.0, 0.9, 0.3, 0.25]  # deep weekend dips


def kpi_days(seed: int, days: int = 84, spike: date | None = SPIKE) -> pl.DataFrame:
    """Twelve weeks of one email campaign's daily KPIs with binomial/Poisson noise; bounces x5 on ``spike``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(days):
        day = START + timedelta(days=i)
        sends = int(rng.poisson(10_000 * WEEKDAY_VOLUME[day.weekday()]))
        deliveries = int(rng.binomial(sends, 0.97))
        bounces = (sends - deliveries) * (5 if day == spike else 1)
        opens = int(rng.binomial(deliveries, 0.25))
        clicks = int(rng.binomial(deliveries, 0.03))
        rows.append(
            {
                "day": day,
                "campaign_id": 1,
                "channel": "email",
                "sends": sends,
                "deliveries": deliveries,
                "bounces": bounces,
                "opens": opens,
                "clicks": clicks,
                "conversions": int(rng.poisson(clicks * 0.1)),
                "unsubscribes": int(rng.binomial(deliveries, 0.0006)),
                "complaints": int(rng.binomial(deliveries, 0.0001)),
                "unique_opens": opens,
                "unique_clicks": clicks,
                "open_tracked_deliveries": deliveries,  # an email row: every column is in scope
                "open_tracked_unique_clicks": clicks,
                "delivery_tracked_unique_clicks": clicks,
                "revenue": float(rng.gamma(5, 100)),
                "event_cost": 1.0,
                "ad_spend": 0.0,
                "cost": 1.0,
            }
        )
    return pl.DataFrame(rows)


def test_moving_averages_and_week_over_week_by_hand() -> None:
    frame = kpi_days(0, days=35, spike=None).with_columns(pl.lit(1).alias("sends"))
    frame = frame.with_columns(
        pl.when(pl.col("day") == START + timedelta(days=28)).then(3).otherwise(1).alias("sends")
    )
    trends = trend_table(daily_series(frame), metrics=["sends", "open_rate"]).filter(
        pl.col("metric") == "sends"
    )
    by_day = {r["day"]: r for r in trends.iter_rows(named=True)}
    assert by_day[START + timedelta(days=5)]["ma7"] is None  # window not full yet
    assert by_day[START + timedelta(days=6)]["ma7"] == pytest.approx(1.0)
    assert by_day[START + timedelta(days=28)]["ma7"] == pytest.approx(9 / 7)
    assert by_day[START + timedelta(days=28)]["ma28"] == pytest.approx(30 / 28)
    assert by_day[START + timedelta(days=28)]["wow_change"] == pytest.approx(2.0)  # 3 vs 1 a week earlier
    assert by_day[START + timedelta(days=35 - 1)]["wow_change"] == pytest.approx(0.0)


def test_missing_days_become_zeros_with_null_rates() -> None:
    frame = kpi_days(0, days=10, spike=None).filter(pl.col("day") != START + timedelta(days=4))
    series = daily_series(frame, ("channel",))
    gap = series.filter(pl.col("day") == START + timedelta(days=4)).row(0, named=True)
    assert series.height == 10
    assert (gap["sends"], gap["deliveries"], gap["open_rate"]) == (0, 0, None)


@pytest.mark.parametrize("seed", range(6))
def test_bounce_spike_is_flagged_and_weekends_are_not(seed: int) -> None:
    frame = kpi_days(seed)
    watched = [
        "sends",
        "deliveries",
        "bounces",
        "bounce_rate",
        "delivery_rate",
        "unique_opens",
        "unique_clicks",
        "conversions",
        "unsubscribes",
        "unsubscribe_rate",
    ]
    scored = seasonal_anomalies(
        trend_table(daily_series(frame, ("channel",)), ("channel",)), ("channel",), metrics=watched
    )
    flagged = anomalies(scored)
    assert set(flagged.select("day", "metric").rows()) == {(SPIKE, "bounces"), (SPIKE, "bounce_rate")}
    assert flagged["direction"].unique().to_list() == ["spike"]
    # weekends are far from the weekly median, so only the same-weekday baseline keeps them quiet
    sends = scored.filter((pl.col("metric") == "sends") & (pl.col("day").dt.weekday() >= 6))
    overall_median = scored.filter(pl.col("metric") == "sends")["value"].median()
    assert (sends["value"] < 0.5 * overall_median).all() and not sends["anomaly"].any()


def test_flags_a_broken_campaign_against_its_peers() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for cid in range(1, 11):
        deliveries = int(rng.integers(800, 3000))
        rate = 0.0 if cid == 7 else float(rng.uniform(0.15, 0.35))
        opens = int(rng.binomial(deliveries, rate))
        clicks = 0 if cid == 7 else int(rng.binomial(deliveries, 0.03))
        rows.append(
            {
                "campaign_id": cid,
                "channel": "email",
                "deliveries": deliveries,
                "unique_opens": opens,
                "unique_clicks": clicks,
                "open_rate": opens / deliveries,
                "ctr": clicks / deliveries,
            }
        )
    rows.append(  # too small to judge: 20 deliveries and no opens is not evidence
        {
            "campaign_id": 11,
            "channel": "email",
            "deliveries": 20,
            "unique_opens": 0,
            "unique_clicks": 0,
            "open_rate": 0.0,
            "ctr": 0.0,
        }
    )
    flagged = campaign_anomalies(pl.DataFrame(rows))
    assert flagged.select("campaign_id", "metric", "reason").rows() == [
        (7, "ctr", "no clicks"),
        (7, "open_rate", "no opens"),
    ]


def test_plot_is_a_real_png(tmp_path: Path) -> None:
    scored = seasonal_anomalies(trend_table(daily_series(kpi_days(1))), metrics=None)
    path = plot_trends(scored, ["sends", "bounces", "open_rate"], tmp_path / "trends.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 500 and image.height > 400
    # a panel without data is refused, not drawn empty
    with pytest.raises(ValueError, match="no scored rows for open_rate"):
        plot_trends(
            scored.filter(pl.col("metric") != "open_rate"), ["sends", "open_rate"], tmp_path / "x.png"
        )
