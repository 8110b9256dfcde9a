"""Cost and return of paid ads: spend, impressions, clicks, CTR, CPC, CPM, conversions, CPA,
revenue and ROAS per platform, campaign, ad set and day, beside the owned channels' cost per send.

Conversions and revenue come from two places, kept apart because they disagree in practice: what
the platforms report (``ad_spend.conversions``/``conversion_value``) and what the lake saw
(attributed conversions and revenue of the ads channel from the analytics phase's
``attribution`` table, joined on ``campaign_id``; and the day's order revenue over all ad spend,
the blended return). All of it is Polars lazy queries over the lake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from aicmo.settings import CurrencySettings
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.orders import reporting_orders

LEVELS: dict[str, tuple[str, ...]] = {
    "platform": ("platform",),
    "campaign": ("platform", "campaign"),
    "ad_set": ("platform", "campaign", "ad_set"),
    "day": ("day",),
}
DAILY_KEYS = ("day", "platform", "account", "campaign", "ad_set")
SUMS = ("spend", "impressions", "clicks", "conversions", "revenue")
ADS_CHANNEL = "ads"
DEFAULT_MODEL = "linear"


def _ratio(num: pl.Expr, den: pl.Expr, scale: float = 1.0) -> pl.Expr:
    return pl.when(den > 0).then(num * scale / den).otherwise(None)


def rate_exprs() -> list[pl.Expr]:
    """CTR, CPC, CPM, CPA and ROAS from the summed columns (null where the denominator is zero)."""
    spend, clicks, impressions = pl.col("spend"), pl.col("clicks"), pl.col("impressions")
    return [
        _ratio(clicks, impressions).alias("ctr"),
        _ratio(spend, clicks).alias("cpc"),
        _ratio(spend, impressions, 1000.0).alias("cpm"),
        _ratio(spend, pl.col("conversions")).alias("cpa"),
        _ratio(pl.col("revenue"), spend).alias("roas"),
    ]


def _base(ad_spend: pl.LazyFrame) -> pl.LazyFrame:
    return ad_spend.select(
        pl.col("date").alias("day"),
        "platform",
        pl.col("account").fill_null(""),
        "campaign",
        "campaign_id",
        pl.col("ad_set").fill_null(""),
        pl.col("spend").fill_null(0.0),
        pl.col("impressions").fill_null(0),
        pl.col("clicks").fill_null(0),
        pl.col("conversions").fill_null(0.0),
        pl.col("conversion_value").fill_null(0.0).alias("revenue"),
    )


def metrics_by(ad_spend: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """Summed spend, delivery and platform-reported results per ``keys``, with the rates."""
    agg = _base(ad_spend).group_by(list(keys)).agg(pl.col(c).sum() for c in SUMS)
    return agg.with_columns(rate_exprs()).sort(list(keys))


def daily_roi(ad_spend: pl.LazyFrame) -> pl.LazyFrame:
    """The ``ads_roi_daily`` lake table's rows: one per day, platform, account, campaign and ad set."""
    return metrics_by(ad_spend, DAILY_KEYS)


def attributed_by_campaign(attribution: pl.LazyFrame, model: str = DEFAULT_MODEL) -> pl.LazyFrame:
    """Conversions and revenue the lake credits to each ads campaign under ``model``."""
    return (
        attribution.filter((pl.col("channel") == ADS_CHANNEL) & (pl.col("model") == model))
        .group_by("campaign_id")
        .agg(
            pl.col("conversions").sum().alias("attributed_conversions"),
            pl.col("revenue").sum().alias("attributed_revenue"),
        )
    )


def owned_channels(kpis_daily: pl.LazyFrame) -> pl.LazyFrame:
    """Owned channels' cost per send, CPA and ROAS from the analytics phase's ``kpis_daily``."""
    return (
        kpis_daily.filter(pl.col("channel") != ADS_CHANNEL)
        .group_by("channel")
        .agg(
            pl.col("event_cost").sum().alias("cost"),
            pl.col("sends").sum(),
            pl.col("conversions").sum().cast(pl.Float64),
            pl.col("revenue").sum(),
        )
        .with_columns(
            _ratio(pl.col("cost"), pl.col("sends")).alias("cost_per_send"),
            _ratio(pl.col("cost"), pl.col("conversions")).alias("cpa"),
            _ratio(pl.col("revenue"), pl.col("cost")).alias("roas"),
        )
        .sort("channel")
    )


@dataclass
class RoiReport:
    """The roll-ups of one window."""

    by: dict[str, pl.DataFrame]  # platform, campaign, ad_set, day
    channels: pl.DataFrame  # owned channels and each ad platform side by side
    daily: pl.DataFrame  # the ads_roi_daily rows

    def totals(self) -> dict[str, float]:
        frame = self.by["platform"]
        sums = {c: float(frame[c].sum() or 0) for c in SUMS}
        sums["roas"] = sums["revenue"] / sums["spend"] if sums["spend"] else 0.0
        sums["cpa"] = sums["spend"] / sums["conversions"] if sums["conversions"] else 0.0
        return sums


def roi_report(
    lake: Lake,
    start: date | None = None,
    end: date | None = None,
    model: str = DEFAULT_MODEL,
    *,
    currency: CurrencySettings | None = None,
) -> RoiReport:
    """Every roll-up of the window from the lake (attribution, orders and KPIs joined where present).

    Orders are converted to the reporting currency of ``currency`` (default: the environment's)
    before they are summed beside the spend, which the import already converted."""
    ad_spend = lake.scan("ad_spend", start, end)
    by = {level: metrics_by(ad_spend, keys).collect() for level, keys in LEVELS.items()}
    if lake.partitions("attribution"):
        ids = _base(ad_spend).group_by("platform", "campaign").agg(pl.col("campaign_id").drop_nulls().first())
        credited = attributed_by_campaign(lake.scan("attribution", start, end), model)
        by["campaign"] = (
            by["campaign"]
            .lazy()
            .join(ids, on=["platform", "campaign"], how="left")
            .join(credited, on="campaign_id", how="left")
            .with_columns(
                _ratio(pl.col("spend"), pl.col("attributed_conversions")).alias("attributed_cpa"),
                _ratio(pl.col("attributed_revenue"), pl.col("spend")).alias("attributed_roas"),
            )
            .collect()
        )
    if lake.partitions("orders"):
        orders = (
            reporting_orders(lake.scan("orders", start, end), currency)
            .group_by(pl.col("ts").dt.date().alias("day"))
            .agg(pl.col("amount").sum().alias("orders_revenue"))
        )
        by["day"] = (
            by["day"]
            .lazy()
            .join(orders, on="day", how="left")
            .with_columns(_ratio(pl.col("orders_revenue"), pl.col("spend")).alias("blended_roas"))
            .collect()
        )
    platforms = by["platform"].select(
        pl.col("platform").alias("channel"),
        pl.lit("paid").alias("kind"),
        pl.col("spend").alias("cost"),
        pl.lit(None, pl.Int64).alias("sends"),
        pl.col("clicks"),
        pl.col("conversions"),
        pl.col("revenue"),
        pl.lit(None, pl.Float64).alias("cost_per_send"),
        pl.col("cpc"),
        pl.col("cpa"),
        pl.col("roas"),
    )
    frames = [platforms]
    if lake.partitions("kpis_daily"):
        owned = owned_channels(lake.scan("kpis_daily", start, end)).collect()
        frames.insert(
            0,
            owned.select(
                "channel",
                pl.lit("owned").alias("kind"),
                "cost",
                pl.col("sends").cast(pl.Int64),
                pl.lit(None, pl.Int64).alias("clicks"),
                "conversions",
                "revenue",
                "cost_per_send",
                pl.lit(None, pl.Float64).alias("cpc"),
                "cpa",
                "roas",
            ),
        )
    channels = pl.concat(frames, how="vertical_relaxed")
    return RoiReport(by=by, channels=channels, daily=daily_roi(ad_spend).collect())


def write_daily_roi(lake: Lake, report: RoiReport) -> dict[date, int]:
    """Write the window's ``ads_roi_daily`` partitions (each day replaced whole, atomically)."""
    if report.daily.height == 0:
        return {}
    return lake.write("ads_roi_daily", report.daily, mode="overwrite")
