"""RFM summary of the order log, in lifetimes' conventions, as a Polars lazy query.

Purchases are counted per day (several orders of a contact on one UTC day are one purchase
period, their amounts summed), as lifetimes' ``summary_data_from_transaction_data(freq="D")``
does, so fitted parameters are comparable with lifetimes':

- ``frequency``: purchase days after the first one (repeat purchases);
- ``recency``: days from the first to the last purchase day (0 for one-time buyers);
- ``T``: days from the first purchase day to the observation day ``as_of``;
- ``monetary_value``: mean amount of the repeat purchase days (0 for one-time buyers).

Alongside come the plain historical figures: ``orders`` (order rows), ``revenue`` (sum of
amounts), ``aov`` (average order value), first and last purchase day.

Every order with a known contact and a non-negative amount on or before ``as_of`` is a
purchase, zero-value ones included (a free order is still a transaction in the BG/NBD sense:
lifetimes and the published CDNOW summary count them; the raw CDNOW log with calibration end
1997-09-30 gives 2,357 customers that way). Refunds (negative amounts) are left out.

Gamma-Gamma can be fitted on the spend of the repeat purchases that cost something: with
``exclude_zero=True``, :func:`spend_summary` gives per contact the repeat purchase days with a
positive amount (``spend_frequency``) and their mean (``spend_value``). The LTV uses it when
``AICMO_ANALYTICS_LTV_SPEND_EXCLUDES_ZERO_ORDERS`` is set.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from aicmo.models.lake import RFM_SUMMARY

SPEND_SUMMARY = pl.Schema({"contact_id": pl.Int64, "spend_frequency": pl.Int64, "spend_value": pl.Float64})


def purchases(orders: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Orders that count as purchases up to the end of ``as_of`` (UTC), with their ``day``."""
    end = pl.lit(as_of + timedelta(days=1)).cast(pl.Date)
    return (
        orders.select("contact_id", "ts", "amount")
        # Days since the epoch as an integer cast to Date: the UTC day, without time-zone arithmetic.
        .with_columns(pl.col("ts").dt.epoch("d").cast(pl.Int32).cast(pl.Date).alias("day"))
        .filter(
            pl.col("contact_id").is_not_null(),
            pl.col("amount").is_not_null(),
            pl.col("amount") >= 0,
            pl.col("day") < end,
        )
    )


def rfm_summary(orders: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """One row per purchasing contact with frequency, recency, T (days) and monetary value.

    ``orders`` is the lake's ``orders`` table (or any frame with ``contact_id``, ``ts`` and
    ``amount``). One group-by over the orders does it all: purchase days are the distinct days,
    the first day's amount a filtered sum (a first aggregation to one row per contact and day
    was about twice as slow on 20M orders, nearly every such pair being distinct).
    """
    day = pl.col("day")
    per_contact = (
        purchases(orders, as_of)
        .group_by("contact_id")
        .agg(
            day.min().alias("first_purchase"),
            day.max().alias("last_purchase"),
            pl.len().cast(pl.Int64).alias("orders"),
            pl.col("amount").sum().alias("revenue"),
            day.n_unique().alias("purchase_days"),
            pl.col("amount").filter(day == day.min()).sum().alias("first_day_amount"),
        )
    )
    as_of_lit = pl.lit(as_of).cast(pl.Date)
    frequency = (pl.col("purchase_days") - 1).cast(pl.Int64)
    return per_contact.select(
        "contact_id",
        "first_purchase",
        "last_purchase",
        "orders",
        "revenue",
        (pl.col("revenue") / pl.col("orders")).alias("aov"),
        frequency.alias("frequency"),
        (pl.col("last_purchase") - pl.col("first_purchase")).dt.total_days().cast(pl.Int64).alias("recency"),
        (as_of_lit - pl.col("first_purchase")).dt.total_days().cast(pl.Int64).alias("T"),
        pl.when(frequency > 0)
        .then((pl.col("revenue") - pl.col("first_day_amount")) / frequency)
        .otherwise(0.0)
        .alias("monetary_value"),
    ).cast(RFM_SUMMARY)


def spend_summary(orders: pl.LazyFrame, as_of: date, *, exclude_zero: bool = False) -> pl.LazyFrame:
    """Gamma-Gamma's input per purchasing contact: repeat purchase days counted for spend, and their mean.

    With ``exclude_zero`` a repeat day whose amounts sum to 0 is left out of both (a free order
    says nothing about what a customer spends); otherwise this is ``(frequency, monetary_value)``.
    """
    day_totals = (
        purchases(orders, as_of)
        .group_by("contact_id", "day")
        .agg(pl.col("amount").sum())
        .with_columns((pl.col("day") == pl.col("day").min().over("contact_id")).alias("__first"))
        .filter(~pl.col("__first"))
    )
    if exclude_zero:
        day_totals = day_totals.filter(pl.col("amount") > 0)
    spend = day_totals.group_by("contact_id").agg(
        pl.len().cast(pl.Int64).alias("spend_frequency"), pl.col("amount").mean().alias("spend_value")
    )
    buyers = purchases(orders, as_of).select("contact_id").unique()
    return (
        buyers.join(spend, on="contact_id", how="left")
        .with_columns(pl.col("spend_frequency").fill_null(0), pl.col("spend_value").fill_null(0.0))
        .cast(SPEND_SUMMARY)
    )


def unique_histories(summary: pl.LazyFrame) -> pl.LazyFrame:
    """Unique ``(frequency, recency, T)`` triples with the number of customers on each.

    The BG/NBD likelihood depends on a customer only through the triple, so fitting over the
    weighted triples is exact and much cheaper than over customers.
    """
    return summary.group_by("frequency", "recency", "T").agg(pl.len().cast(pl.Float64).alias("weight"))
