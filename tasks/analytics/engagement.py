"""Engagement score per contact: weighted events with exponential recency decay, scaled to 0-100.

Every event up to the end of ``as_of`` contributes ``weight(type) * 0.5 ** (age_days / half_life)``;
the weights (negative for unsubscribes, complaints, bounces) and the half-life come from
``settings.analytics``. The raw sum is scaled so the 99th percentile of positive raw scores maps
to 100 (higher values are capped there, negative sums floor at 0): one very active contact does
not squash everyone else's score, and the scale follows the population as it changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl

US_PER_DAY = 86_400_000_000
REFERENCE_QUANTILE = 0.99
# Events the contact did themself (as opposed to sends and deliveries done to them).
ACTIVITY_TYPES = ("open", "click", "convert")


def day_end(as_of: date) -> datetime:
    """00:00 UTC of the day after ``as_of``: everything before it counts as of ``as_of``."""
    return datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)


def engagement_scores(
    events: pl.LazyFrame,
    as_of: date,
    weights: dict[str, float],
    half_life_days: float,
) -> pl.LazyFrame:
    """One row per contact with events: ``engagement_raw``, ``engagement_score`` (0-100), ``last_activity_at``.

    ``events`` is the lake's ``events`` table (``contact_id``, ``ts``, ``type`` are used). Event
    types missing from ``weights`` weigh 0.
    """
    if half_life_days <= 0:
        raise ValueError(f"engagement half-life must be positive, not {half_life_days}")
    end = day_end(as_of)
    age_days = (
        pl.lit(end).cast(pl.Datetime("us", "UTC")) - pl.col("ts")
    ).dt.total_microseconds() / US_PER_DAY
    weight = pl.col("type").replace_strict(weights, default=0.0, return_dtype=pl.Float64)
    per_contact = (
        events.select("contact_id", "ts", "type")
        .filter(pl.col("contact_id").is_not_null(), pl.col("ts") < end)
        .group_by("contact_id")
        .agg(
            (weight * (-age_days * (0.6931471805599453 / half_life_days)).exp())
            .sum()
            .alias("engagement_raw"),
            pl.col("ts").filter(pl.col("type").is_in(ACTIVITY_TYPES)).max().alias("last_activity_at"),
            pl.len().alias("events"),
        )
    )
    raw = pl.col("engagement_raw")
    reference = raw.filter(raw > 0).quantile(REFERENCE_QUANTILE, interpolation="linear")
    score = (
        (raw.clip(lower_bound=0.0) / reference * 100.0).clip(upper_bound=100.0).fill_nan(0.0).fill_null(0.0)
    )
    return per_contact.with_columns(score.alias("engagement_score"))
