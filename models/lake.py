"""Polars schemas of the Parquet lake's tables, written once and used by every reader and writer.

Each table is hive-partitioned by day (``dt=YYYY-MM-DD``); ``LakeTable.partition_column`` names
the column the day is taken from and ``key`` the columns that identify a row (duplicates on the
key are dropped on write). A table whose ``granularity`` is ``"month"`` keeps one file per
calendar month instead, in the folder of the month's first day (its rows keep their own day in
``partition_column``): small tables with a row per day and entity (``ad_spend``) would otherwise
be hundreds of tiny files a year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")


def schema(columns: dict[str, Any]) -> pl.Schema:
    """A Polars schema from ``{column: dtype}`` (typed helper for the declarations below)."""
    return pl.Schema(columns)


EVENT_TYPES = (
    "send",
    "deliver",
    "bounce",
    "open",
    "click",
    "convert",
    "unsubscribe",
    "complaint",
)
# What publishing records beside ``send`` for rows that did not go out (``reason`` says why).
OUTCOME_EVENT_TYPES = ("skip", "fail", "unknown")
EVENT_CHANNELS = ("email", "sms", "push", "webhook", "ads", "organic", "social", "search", "direct")

EVENTS = schema(
    {
        "event_id": pl.String,
        "ts": UTC_TS,
        "contact_id": pl.Int64,
        "campaign_id": pl.Int64,
        "channel": pl.String,
        "type": pl.String,
        "asset_id": pl.Int64,
        "revenue": pl.Float64,
        "cost": pl.Float64,
        "utm_source": pl.String,
        "utm_medium": pl.String,
        "utm_campaign": pl.String,
        "utm_content": pl.String,
        # written by the tracking service (phase 2); null for events from other sources
        "provider": pl.String,  # sendgrid | mailgun | postmark | ses | twilio | standard | pixel | redirect | ...
        "provider_event_id": pl.String,  # the provider's own id of the event, when it has one
        "is_machine": pl.Boolean,  # an open or click made by a proxy, prefetcher or link scanner
        "user_agent_class": pl.String,  # apple_mpp | scanner | proxy | browser | mail_client | ...
        "url": pl.String,  # the clicked link
        "variant_id": pl.Int64,
        "reason": pl.String,
    }
)

# Money columns ``spend`` and ``conversion_value`` are in the reporting currency (what the KPIs
# add up); ``currency`` is the ad account's own currency and the ``*_local`` columns the amounts
# as the platform reported them (null for rows written before currencies were recorded).
# Conversions are fractional: Google Ads reports data-driven credit such as 2.5.
AD_SPEND = schema(
    {
        "date": pl.Date,
        "platform": pl.String,
        "campaign_id": pl.Int64,
        "campaign": pl.String,
        "ad_set": pl.String,
        "ad": pl.String,
        "impressions": pl.Int64,
        "clicks": pl.Int64,
        "spend": pl.Float64,
        "conversions": pl.Float64,
        "conversion_value": pl.Float64,
        "account": pl.String,
        "currency": pl.String,
        "spend_local": pl.Float64,
        "conversion_value_local": pl.Float64,
    }
)

ORDERS = schema(
    {
        "order_id": pl.String,
        "contact_id": pl.Int64,
        "ts": UTC_TS,
        "amount": pl.Float64,
        "currency": pl.String,
        "source": pl.String,
    }
)


@dataclass(frozen=True)
class LakeTable:
    """A lake table: its name, schema, the column its day partition comes from, and its row key."""

    name: str
    schema: pl.Schema
    partition_column: str
    key: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    """Values of key columns that writers from before the column existed leave out."""
    granularity: Literal["day", "month"] = "day"
    """What one partition file holds: a day's rows, or a calendar month's (see the module's doc)."""
    compression_level: int | None = None
    """The zstd level of the table's files (None: the codec's default, 3)."""


TABLES: dict[str, LakeTable] = {
    "events": LakeTable("events", EVENTS, "ts", ("event_id",)),
    "ad_spend": LakeTable(
        "ad_spend",
        AD_SPEND,
        "date",
        ("date", "platform", "account", "campaign", "ad_set", "ad"),
        defaults={"account": ""},
        # A year of 1,000 ad sets is 365,000 rows: twelve monthly files instead of 365 daily ones.
        # zstd level 1 instead of 3: the twelve files encode in 0.15 s instead of 0.19 s (best of
        # 5, load 4.5) and come out 1% larger (6.87 MB against 6.94 MB); the encoding is most of
        # what an import's write costs.
        granularity="month",
        compression_level=1,
    ),
    "orders": LakeTable("orders", ORDERS, "ts", ("order_id",)),
}


def register(table: LakeTable) -> LakeTable:
    """Add a derived table (KPIs, scores, ...) to the registry so the lake can write it."""
    TABLES[table.name] = table
    return table


# ---- phase 3 derived tables: KPIs, data quality, attribution ----------------------------------
_KPI_COUNTS = (
    "sends",
    "deliveries",
    "bounces",
    "opens",
    "clicks",
    "conversions",
    "unsubscribes",
    "complaints",
)
KPI_RATE_COLUMNS = (
    "delivery_rate",
    "bounce_rate",
    "open_rate",
    "ctr",
    "click_to_open",
    "conversion_rate",
    "unsubscribe_rate",
    "cpa",
    "roas",
    "roi",
)
KPIS_DAILY = schema(
    {
        "day": pl.Date,
        "campaign_id": pl.Int64,
        "channel": pl.String,
        **{c: pl.Int64 for c in _KPI_COUNTS},
        "open_tracked_deliveries": pl.Int64,  # deliveries on channels that record opens (email, push)
        "unique_opens": pl.Int64,
        "unique_clicks": pl.Int64,
        "open_tracked_unique_clicks": pl.Int64,  # clickers on channels that record opens
        "delivery_tracked_unique_clicks": pl.Int64,  # clickers on channels that record deliveries
        "revenue": pl.Float64,
        "event_cost": pl.Float64,
        "ad_spend": pl.Float64,
        "cost": pl.Float64,
        **{c: pl.Float64 for c in KPI_RATE_COLUMNS},
        "human_opens": pl.Int64,  # opens not flagged as a machine's (Apple MPP, scanners)
        "human_clicks": pl.Int64,  # clicks not flagged as a link scanner's
    }
)
EVENT_QUALITY = schema({"day": pl.Date, "issue": pl.String, "rows": pl.Int64, "total_rows": pl.Int64})
ATTRIBUTION = schema(
    {
        "day": pl.Date,
        "model": pl.String,
        "channel": pl.String,
        "campaign_id": pl.Int64,
        "conversions": pl.Float64,
        "revenue": pl.Float64,
    }
)
register(LakeTable("kpis_daily", KPIS_DAILY, "day", ("day", "campaign_id", "channel")))
register(LakeTable("event_quality", EVENT_QUALITY, "day", ("day", "issue")))
register(LakeTable("attribution", ATTRIBUTION, "day", ("day", "model", "channel", "campaign_id")))

# ---- phase 3 derived tables: scores (LTV, tiers, RFM, engagement) and cohorts -----------------
RFM_SUMMARY = schema(
    {
        "contact_id": pl.Int64,
        "first_purchase": pl.Date,
        "last_purchase": pl.Date,
        "orders": pl.Int64,
        "revenue": pl.Float64,
        "aov": pl.Float64,
        "frequency": pl.Int64,
        "recency": pl.Int64,
        "T": pl.Int64,
        "monetary_value": pl.Float64,
    }
)
"""One row per purchasing contact, in lifetimes' conventions (see ``aicmo.tasks.analytics.rfm``)."""
LTV = schema(
    {
        "as_of": pl.Date,
        **RFM_SUMMARY,
        "expected_purchases": pl.Float64,
        "p_alive": pl.Float64,
        "expected_spend": pl.Float64,
        "predicted_ltv": pl.Float64,
        "ltv_value": pl.Float64,
        "tier": pl.String,
        "rfm_score": pl.String,
        "rfm_segment": pl.String,
        "engagement_score": pl.Float64,
        "last_activity_at": UTC_TS,
    }
)
COHORT_RETENTION = schema(
    {
        "as_of": pl.Date,
        "basis": pl.String,
        "period_unit": pl.String,
        "cohort": pl.Date,
        "period": pl.Int32,
        "cohort_size": pl.Int64,
        "active": pl.Int64,
        "retention": pl.Float64,
        "revenue": pl.Float64,
        "revenue_per_customer": pl.Float64,
        "cumulative_revenue_per_customer": pl.Float64,
    }
)
register(LakeTable("ltv", LTV, "as_of", ("as_of", "contact_id")))
register(
    LakeTable(
        "cohort_retention", COHORT_RETENTION, "as_of", ("as_of", "basis", "period_unit", "cohort", "period")
    )
)

# ---- phase 2 derived table: paid ads cost and return --------------------------------------------
ADS_ROI_DAILY = schema(
    {
        "day": pl.Date,
        "platform": pl.String,
        "account": pl.String,
        "campaign": pl.String,
        "ad_set": pl.String,
        "spend": pl.Float64,
        "impressions": pl.Int64,
        "clicks": pl.Int64,
        "conversions": pl.Float64,
        "revenue": pl.Float64,
        "ctr": pl.Float64,
        "cpc": pl.Float64,
        "cpm": pl.Float64,
        "cpa": pl.Float64,
        "roas": pl.Float64,
    }
)
register(
    LakeTable("ads_roi_daily", ADS_ROI_DAILY, "day", ("day", "platform", "account", "campaign", "ad_set"))
)
