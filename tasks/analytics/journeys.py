"""Journeys: the ordered touchpoints of a contact before each conversion, within a lookback window.

Built with one as-of join instead of a loop per journey: every touchpoint is matched to the
*next* conversion of the same contact (``join_asof`` forward, by contact). A touch belongs to that
conversion's journey when it is at most ``lookback`` before it; as each touch goes to the next
conversion only, a journey starts after the previous conversion, so no touch is credited twice.
Touches with no conversion ahead in the window form the non-converting paths the Markov model
needs. Positions within a journey come from one sort by (journey, time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

TOUCH_TYPES = ("open", "click")
"""Event types that count as a touchpoint: interactions, not exposures (sends, deliveries)."""

CONVERSION_TYPE = "convert"
NO_CONVERSION = -1


@dataclass(frozen=True)
class Journeys:
    """Touchpoints with their journey and position, and the conversions they lead to.

    ``touches``: ``journey`` (conversion index, or a negative id for a non-converting path),
    ``converted``, ``contact_id``, ``ts``, ``channel``, ``campaign_id``, ``position`` (0-based),
    ``n_touches``, and for converted journeys ``conv_ts``, ``revenue`` and ``day`` (of the
    conversion). ``conversions``: one row per conversion with ``journey``, ``day``, ``revenue`` and
    ``n_touches`` (0 when nothing in the window led to it: an unattributed conversion).
    """

    touches: pl.DataFrame
    conversions: pl.DataFrame

    @property
    def converted_touches(self) -> pl.DataFrame:
        """The touchpoints of converted journeys only."""
        return self.touches.filter(pl.col("converted"))


def conversions_of(events: pl.LazyFrame) -> pl.LazyFrame:
    """Conversion events with a contact, numbered in time order (``journey``)."""
    return (
        events.filter((pl.col("type") == CONVERSION_TYPE) & pl.col("contact_id").is_not_null())
        .select(
            "contact_id",
            pl.col("ts").alias("conv_ts"),
            pl.col("revenue").fill_null(0.0).alias("revenue"),
        )
        .sort("conv_ts", "contact_id")
        .with_row_index("journey")
        .with_columns(pl.col("journey").cast(pl.Int64), pl.col("conv_ts").dt.date().alias("day"))
    )


def touches_of(events: pl.LazyFrame, touch_types: tuple[str, ...] = TOUCH_TYPES) -> pl.LazyFrame:
    """Touchpoint events with a contact and a channel, in time order."""
    return (
        events.filter(
            pl.col("type").is_in(pl.Series(touch_types).implode())
            & pl.col("contact_id").is_not_null()
            & pl.col("channel").is_not_null()
        )
        .select("contact_id", "ts", "channel", "campaign_id")
        .sort("ts")
    )


def run_position_and_length(key: str) -> tuple[pl.Expr, pl.Expr]:
    """``(position, length)`` of each row within its run of equal ``key`` values.

    For a frame sorted by ``key``: linear scans (shift, forward/backward fill) instead of a
    hash-based window, which matters with millions of short journeys.
    """
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    first = (pl.col(key) != pl.col(key).shift(1)).fill_null(True)
    last = (pl.col(key) != pl.col(key).shift(-1)).fill_null(True)
    start = pl.when(first).then(idx).otherwise(None).forward_fill()
    end = pl.when(last).then(idx).otherwise(None).backward_fill()
    return (idx - start).cast(pl.Int32), (end - start + 1).cast(pl.Int32)


def segment_sum(value: pl.Expr, key: str) -> pl.Expr:
    """Sum of ``value`` over each run of equal ``key`` values, on every row of the run.

    For a frame sorted by ``key``: a cumulative sum read at the run's end minus at its start, a
    linear scan where ``value.sum().over(key)`` hashes millions of small groups.
    """
    first = (pl.col(key) != pl.col(key).shift(1)).fill_null(True)
    last = (pl.col(key) != pl.col(key).shift(-1)).fill_null(True)
    total = value.cum_sum()
    at_end = pl.when(last).then(total).otherwise(None).backward_fill()
    before_start = pl.when(first).then(total - value).otherwise(None).forward_fill()
    return at_end - before_start


def build_journeys(
    events: pl.LazyFrame, lookback_days: float, touch_types: tuple[str, ...] = TOUCH_TYPES
) -> Journeys:
    """Assign each touchpoint to the next conversion of its contact within ``lookback_days``.

    One sort of touches and conversions together by (contact, time, touch before conversion);
    then each row's next conversion is a backward fill, and every journey is already a
    contiguous run in time order, so positions need no second sort and no hash window.
    """
    kinds = pl.Series([*touch_types, CONVERSION_TYPE]).implode()
    is_conv = pl.col("type") == CONVERSION_TYPE
    rows = (
        events.filter(
            pl.col("type").is_in(kinds)
            & pl.col("contact_id").is_not_null()
            & (is_conv | pl.col("channel").is_not_null())
        )
        .select(
            "contact_id",
            "ts",
            is_conv.alias("__conv"),
            "channel",
            "campaign_id",
            pl.col("revenue").fill_null(0.0),
            # time and touch-before-conversion in one int64 key: a two-key sort is ~3x faster
            # than sorting on (contact, ts, flag)
            (pl.col("ts").dt.epoch("us") * 2 + is_conv.cast(pl.Int64)).alias("__order"),
        )
        .collect()  # eager from here: the same steps ran 2x slower as one lazy plan
        .sort("contact_id", "__order")
        .with_columns((pl.col("__conv").cast(pl.Int64).cum_sum() - 1).alias("__idx"))
    )

    def next_conversion(column: str) -> pl.Expr:
        return pl.when(pl.col("__conv")).then(pl.col(column)).otherwise(None).backward_fill()

    lookback = timedelta(days=lookback_days)
    linked = rows.with_columns(
        next_conversion("__idx").alias("__next"),
        next_conversion("contact_id").alias("__next_contact"),
        next_conversion("ts").alias("conv_ts"),
        next_conversion("revenue").alias("__next_revenue"),
    ).with_columns(
        pl.when(pl.col("__next_contact") == pl.col("contact_id")).then(pl.col("__next")).alias("__next")
    )
    frame = linked
    conversions = frame.filter(pl.col("__conv")).select(
        pl.col("__idx").alias("journey"),
        "contact_id",
        "conv_ts",
        "revenue",
        pl.col("conv_ts").dt.date().alias("day"),
    )
    # A touch outside any window joins the non-converting path of (contact, next conversion or
    # none), numbered negative and distinct: -(contact * (conversions + 1) + next + 1) - 1.
    span = conversions.height + 1
    converted = pl.col("__next").is_not_null() & ((pl.col("conv_ts") - pl.col("ts")) <= lookback)
    null_id = -(pl.col("contact_id") * span + pl.col("__next").fill_null(NO_CONVERSION) + 1) - 1
    position, length = run_position_and_length("journey")
    touches = (
        frame.filter(~pl.col("__conv"))
        .with_columns(converted.alias("converted"))
        .select(
            pl.when(pl.col("converted")).then(pl.col("__next")).otherwise(null_id).alias("journey"),
            "converted",
            "contact_id",
            "ts",
            "channel",
            "campaign_id",
            *[
                pl.when(pl.col("converted")).then(expr).otherwise(None).alias(name)
                for name, expr in (
                    ("conv_ts", pl.col("conv_ts")),
                    ("revenue", pl.col("__next_revenue")),
                    ("day", pl.col("conv_ts").dt.date()),
                )
            ],
        )
        .with_columns(position.alias("position"), length.alias("n_touches"))
    )
    sizes = touches.filter(pl.col("converted") & (pl.col("position") == 0)).select("journey", "n_touches")
    conversions = conversions.join(sizes, on="journey", how="left").with_columns(
        pl.col("n_touches").fill_null(0)
    )
    return Journeys(touches=touches, conversions=conversions)
