"""The scoring steps of phase 3 as plain functions, each with a thin Prefect task over it.

1. ``build_scores``: engagement (events), historical + predicted LTV (orders), tiers and RFM
   segments, joined per contact and written to the lake's ``ltv`` snapshot for ``as_of``.
2. ``store_scores``: the snapshot written onto ``contacts`` in bulk, with tier changes recorded.
3. ``build_cohorts``: retention/revenue cohorts of orders and of event activity, written to
   ``cohort_retention`` and drawn as heatmap PNGs.

Tasks pass the lake root, the database URL and the day; the frames stay in the lake.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from aicmo import clock
from aicmo.models.lake import COHORT_RETENTION, LTV
from aicmo.settings import AnalyticsSettings, CurrencySettings
from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.cohorts import Period, cohort_table, heatmap_png
from aicmo.tasks.analytics.contact_scores import write_scores
from aicmo.tasks.analytics.engagement import ACTIVITY_TYPES, engagement_scores
from aicmo.tasks.analytics.ltv import compute_ltv
from aicmo.tasks.analytics.orders import reporting_orders
from aicmo.tasks.analytics.tiers import DEFAULT_TIER_QUANTILES, assign_tiers, rfm_segments

TierMethod = Literal["thresholds", "quantiles"]


def default_as_of(lake: Lake, today: date | None = None) -> date:
    """The last day the lake has orders or events for, but not after today (UTC)."""
    today = today or clock.today()
    days = [d for table in ("orders", "events") for d in lake.partitions(table) if d <= today]
    return max(days) if days else today


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if column not in frame.columns or frame.is_empty():
        return {}
    counts = frame.filter(pl.col(column).is_not_null()).group_by(column).len().sort(column)
    return {str(k): int(v) for k, v in counts.iter_rows()}


def build_scores(
    lake: Lake,
    as_of: date,
    settings: AnalyticsSettings,
    *,
    tier_method: TierMethod = "thresholds",
    tier_quantiles: Mapping[str, float] | None = None,
    currency: CurrencySettings | None = None,
) -> dict[str, Any]:
    """Compute every contact's scores as of ``as_of``, write the ``ltv`` snapshot, return a summary.

    Order amounts are converted to the reporting currency of ``currency`` first (default: the
    environment's), so revenue, spend and LTV add up one currency."""
    ltv = compute_ltv(
        reporting_orders(lake.scan("orders", end=as_of), currency),
        as_of,
        horizon_days=settings.ltv_horizon_days,
        discount_rate_annual=settings.ltv_discount_rate_annual,
        purchase_model=settings.ltv_purchase_model,
        holdout_days=settings.ltv_holdout_days,
        spend_excludes_zero_orders=settings.ltv_spend_excludes_zero_orders,
    )
    customers = ltv.frame.lazy().with_columns(
        (pl.col("revenue") + pl.col("predicted_ltv").fill_null(0.0)).alias("ltv_value")
    )
    if tier_method == "thresholds":
        customers = assign_tiers(customers, thresholds=dict(settings.tier_thresholds))
    else:
        customers = assign_tiers(customers, quantiles=dict(tier_quantiles or DEFAULT_TIER_QUANTILES))
    customers = rfm_segments(customers, as_of)
    engagement = engagement_scores(
        lake.scan("events", end=as_of), as_of, settings.engagement_weights, settings.engagement_half_life_days
    )
    last_order = (
        lake.scan("orders", end=as_of)
        .filter(pl.col("contact_id").is_not_null(), pl.col("ts").dt.date() <= as_of)
        .group_by("contact_id")
        .agg(pl.col("ts").max().alias("last_order_at"))
    )
    scores = (
        customers.join(engagement, on="contact_id", how="full", coalesce=True)
        .join(last_order, on="contact_id", how="left")
        .with_columns(
            pl.lit(as_of).alias("as_of"),
            pl.max_horizontal("last_activity_at", "last_order_at").alias("last_activity_at"),
            pl.col("engagement_score").fill_null(0.0),
            pl.col("orders").cast(pl.Int64),
        )
        .select(list(LTV.names()))
        .collect()
    )
    rows = lake.write_partition("ltv", as_of, scores, mode="overwrite")
    summary = ltv.summary()
    summary.update(
        {
            "as_of": as_of.isoformat(),
            "contacts_scored": rows,
            "tier_method": tier_method,
            "tiers": _counts(scores, "tier"),
            "rfm_segments": _counts(scores, "rfm_segment"),
            "mean_engagement": float(scores.select(pl.col("engagement_score").mean().fill_null(0.0)).item()),
        }
    )
    return summary


def store_scores(database_url: str, lake: Lake, as_of: date, scored_at: datetime) -> dict[str, int]:
    """Write the ``ltv`` snapshot of ``as_of`` onto the contacts (bulk), recording tier changes."""
    snapshot = lake.read_partition("ltv", as_of).rename({"revenue": "historical_ltv"})
    return write_scores(
        get_engine(database_url), snapshot, scored_at, reason=f"scoring as of {as_of}"
    ).as_dict()


def build_cohorts(
    lake: Lake,
    as_of: date,
    artifacts_dir: Path,
    *,
    period: Period = "month",
    currency: CurrencySettings | None = None,
) -> dict[str, Any]:
    """Order and activity cohorts as of ``as_of``: lake table ``cohort_retention`` plus heatmap PNGs
    (order revenue in the reporting currency of ``currency``, default: the environment's)."""
    orders = (
        reporting_orders(lake.scan("orders", end=as_of), currency)
        .filter(pl.col("amount") > 0)
        .select("contact_id", "ts", "amount")
    )
    activity = (
        lake.scan("events", end=as_of).filter(pl.col("type").is_in(ACTIVITY_TYPES)).select("contact_id", "ts")
    )
    tables = {
        "orders": cohort_table(orders, period=period, value="amount", as_of=as_of).collect(
            engine="streaming"
        ),
        "events": cohort_table(activity, period=period, value=None, as_of=as_of).collect(engine="streaming"),
    }
    frames = [
        t.with_columns(
            pl.lit(as_of).alias("as_of"), pl.lit(basis).alias("basis"), pl.lit(period).alias("period_unit")
        )
        for basis, t in tables.items()
    ]
    combined = pl.concat(frames, how="vertical").select(list(COHORT_RETENTION.names()))
    lake.write_partition("cohort_retention", as_of, combined, mode="overwrite")
    folder = artifacts_dir / "cohorts" / as_of.isoformat()
    pngs = {}
    if not tables["orders"].is_empty():
        pngs["orders_retention"] = heatmap_png(
            tables["orders"],
            folder / f"orders-retention-{period}.png",
            title=f"order retention by {period} cohort",
        )
        pngs["orders_revenue"] = heatmap_png(
            tables["orders"],
            folder / f"orders-revenue-{period}.png",
            column="cumulative_revenue_per_customer",
            title=f"cumulative revenue per customer by {period} cohort",
        )
    if not tables["events"].is_empty():
        pngs["events_retention"] = heatmap_png(
            tables["events"],
            folder / f"activity-retention-{period}.png",
            title=f"activity retention by {period} cohort",
        )
    return {
        "as_of": as_of.isoformat(),
        "period": period,
        "cohorts": {basis: int(t.filter(pl.col("period") == 0).height) for basis, t in tables.items()},
        "rows": combined.height,
        "pngs": {k: str(v) for k, v in pngs.items()},
    }
