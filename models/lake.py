"""Polars schemas of the Parquet lake's tables, written once and used by every reader and writer.

Each table is hive-partitioned by day (``dt=YYYY-MM-DD``); ``LakeTable.partition_column`` names
the column the day is taken from and ``key`` the columns that identify a row (duplicates on the
key are dropped on write).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

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
EVENT_CHANNELS = ("email", "sms", "push", "webhook", "ads", "organic", "social", "search", "direct")

EVENTS = pl.Schema(
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
    }
)

AD_SPEND = pl.Schema(
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
        "conversions": pl.Int64,
        "conversion_value": pl.Float64,
    }
)

ORDERS = pl.Schema(
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


TABLES: dict[str, LakeTable] = {
    "events": LakeTable("events", EVENTS, "ts", ("event_id",)),
    "ad_spend": LakeTable("ad_spend", AD_SPEND, "date", ("date", "platform", "campaign", "ad_set", "ad")),
    "orders": LakeTable("orders", ORDERS, "ts", ("order_id",)),
}


def register(table: LakeTable) -> LakeTable:
    """Add a derived table (KPIs, scores, ...) to the registry so the lake can write it."""
    TABLES[table.name] = table
    return table
