"""Engagement score: weights, exponential recency decay, 0-100 scaling, last activity."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from aicmo.models.lake import EVENTS
from aicmo.settings import AnalyticsSettings
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.engagement import engagement_scores

AS_OF = date(2025, 3, 31)
END = datetime(2025, 4, 1, tzinfo=UTC)
WEIGHTS = {"open": 1.0, "click": 3.0, "convert": 10.0, "unsubscribe": -5.0, "deliver": 0.0}


def _events(rows: list[tuple[int, float, str]]) -> pl.DataFrame:
    """Events as (contact_id, days before the end of AS_OF, type)."""
    return pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "contact_id": [r[0] for r in rows],
            "ts": [END - timedelta(days=r[1]) for r in rows],
            "type": [r[2] for r in rows],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))


def _scores(df: pl.DataFrame, half_life: float = 30.0) -> dict[int, dict[str, object]]:
    out = engagement_scores(df.lazy(), AS_OF, WEIGHTS, half_life).collect()
    return {row["contact_id"]: row for row in out.iter_rows(named=True)}


def test_raw_score_is_weighted_sum_with_half_life_decay() -> None:
    s = _scores(_events([(1, 1e-9, "click"), (1, 30.0, "open"), (1, 60.0, "convert"), (2, 10.0, "deliver")]))
    assert s[1]["engagement_raw"] == pytest.approx(3.0 + 0.5 + 10.0 * 0.25)
    assert s[2]["engagement_raw"] == pytest.approx(0.0)
    assert s[2]["engagement_score"] == 0.0


def test_recent_activity_beats_the_same_activity_long_ago() -> None:
    s = _scores(
        _events([(1, 1.0, "click"), (2, 90.0, "click"), (3, 200.0, "click")] + [(9, 0.5, "convert")] * 3)
    )
    assert s[1]["engagement_score"] > s[2]["engagement_score"] > s[3]["engagement_score"] > 0


def test_scores_are_between_0_and_100_and_negative_events_floor_at_0() -> None:
    rows = [(c, float(c % 50) + 0.5, "open") for c in range(1, 400)] + [
        (500, 1.0, "unsubscribe"),
        (500, 2.0, "open"),
    ]
    rows += [(600, 0.5, "convert")] * 20  # one very active contact
    s = _scores(_events(rows))
    values = [v["engagement_score"] for v in s.values()]
    assert min(values) >= 0.0 and max(values) <= 100.0
    assert s[500]["engagement_score"] == 0.0
    assert s[600]["engagement_score"] == 100.0
    # The outlier does not squash everyone else: a fresh open is still a sizable score.
    assert s[50]["engagement_score"] > 50.0


def test_events_after_as_of_are_ignored_and_last_activity_counts_only_contact_actions() -> None:
    df = _events([(1, 5.0, "open"), (1, -3.0, "click"), (1, 1.0, "deliver")])
    s = _scores(df)
    assert s[1]["engagement_raw"] == pytest.approx(0.5 ** (5.0 / 30.0))
    assert s[1]["last_activity_at"] == END - timedelta(days=5)


def test_half_life_comes_from_the_argument() -> None:
    df = _events([(1, 7.0, "open")])
    assert _scores(df, half_life=7.0)[1]["engagement_raw"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="half-life"):
        engagement_scores(df.lazy(), AS_OF, WEIGHTS, 0.0)


def test_scores_from_the_lake_with_settings_weights(lake: Lake) -> None:
    df = _events([(1, 2.0, "open"), (2, 2.0, "click"), (3, 2.0, "complaint")]).with_columns(
        pl.lit("email").alias("channel")
    )
    lake.write("events", df)
    settings = AnalyticsSettings()
    out = engagement_scores(
        lake.scan("events"), AS_OF, settings.engagement_weights, settings.engagement_half_life_days
    ).collect()
    assert set(out.columns) >= {"contact_id", "engagement_score", "last_activity_at"}
    by_id = dict(zip(out["contact_id"], out["engagement_score"], strict=True))
    assert by_id[2] > by_id[1] > by_id[3] == 0.0
    assert EVENTS["contact_id"] == out.schema["contact_id"]
