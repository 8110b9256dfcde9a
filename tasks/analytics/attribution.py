"""Multi-touch attribution: credit each conversion and its revenue to the touchpoints before it.

Every model is a weight per touchpoint of a converted journey, computed vectorised from the
touch's position, the journey's length and its age at conversion; the weights of a journey sum
to 1, so each model credits exactly the conversions (and revenue) that have a journey:

- ``first_touch`` / ``last_touch``: all to the first / last touch;
- ``linear``: ``1 / n`` each;
- ``time_decay``: ``2 ** (-age / half_life)``, normalised within the journey;
- ``position_based``: 40 % first, 40 % last, 20 % shared by the middle (50/50 for two touches);
- ``markov``: the standard Markov attribution (Anderl et al. 2016, ChannelAttribution's
  ``markov_model``): each channel gets the conversions times its share of the removal effects,
  and the revenue times its share of the value removal effects, from a chain of order 1 to 4
  (see :mod:`.markov`);
- ``markov_journey``: the same removal effects used per journey instead: each journey's
  conversion is shared among its channels in proportion to their removal effects, then equally
  among that channel's touches. Channel totals differ from ``markov`` (on ChannelAttribution's
  example by up to 16 points of total conversions per channel); kept for path-level views;
- ``shapley``: the simplified Shapley value over channel sets and their conversion rates
  (Zhao et al. 2018, see :mod:`.shapley`), splitting conversions and revenue by its shares.

``markov`` and ``shapley`` are global shares. They are credited per day as the day's credited
conversions (revenue) times the channel's share, so every day's credits add up to that day's
conversions; within a day and channel, by campaign in proportion to the channel's touches on that
day's converted journeys (campaign null when the channel had none that day).

Conversions with no touchpoint in the lookback window are not credited to any channel; the
result counts them (``unattributed``) so the totals reconcile.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from aicmo.models.lake import ATTRIBUTION
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.journeys import TOUCH_TYPES, Journeys, build_journeys, segment_sum
from aicmo.tasks.analytics.markov import MarkovModel, fit_markov, transition_counts
from aicmo.tasks.analytics.quality import clean, flag_events
from aicmo.tasks.analytics.shapley import ShapleyModel, channel_sets, fit_shapley

RULE_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
TOUCH_MODELS = (*RULE_MODELS, "markov_journey")
"""Models that weigh each touch of a converted journey."""
SHARE_MODELS = ("markov", "shapley")
"""Models that split the conversions by global channel shares."""
MODELS = (*RULE_MODELS, "markov", "markov_journey", "shapley")
CREDIT_KEYS = ("day", "channel", "campaign_id")


@dataclass(frozen=True)
class Attribution:
    """Credits per model, day, channel and campaign, the Markov chain, and the reconciliation."""

    credits: pl.DataFrame  # day, model, channel, campaign_id, conversions, revenue
    markov: MarkovModel
    shapley: ShapleyModel
    conversions: int
    revenue: float
    credited_conversions: int
    credited_revenue: float

    @property
    def unattributed_conversions(self) -> int:
        """Conversions with no touchpoint in the lookback window."""
        return self.conversions - self.credited_conversions

    def by_channel(self, value: str = "conversions") -> pl.DataFrame:
        """One row per channel, one column per model, of credited ``value`` (conversions or revenue)."""
        return (
            self.credits.group_by("channel", "model")
            .agg(pl.col(value).sum())
            .pivot(on="model", index="channel", values=value)
            .select("channel", *[pl.col(m).fill_null(0.0) for m in MODELS if m in self.credits["model"]])
            .sort("channel")
        )

    def by_campaign(self, value: str = "conversions") -> pl.DataFrame:
        """One row per campaign (null = none), one column per model, of credited ``value``."""
        return (
            self.credits.group_by("campaign_id", "model")
            .agg(pl.col(value).sum())
            .pivot(on="model", index="campaign_id", values=value)
            .sort("campaign_id", nulls_last=True)
        )


def with_weights(touches: pl.DataFrame, half_life_days: float, model: MarkovModel) -> pl.LazyFrame:
    """Converted touches (contiguous per journey, in time order) with one weight column per model.

    Built in stages of plain columns: a window over a column that is itself a window result
    would be re-evaluated per group, which is quadratic-looking slow on millions of journeys.
    """
    pos, n = pl.col("position"), pl.col("n_touches")
    nf = n.cast(pl.Float64)
    age_days = (pl.col("conv_ts") - pl.col("ts")).dt.total_microseconds() / 86_400e6
    effects = pl.col("channel").replace_strict(model.removal_effects, default=0.0, return_dtype=pl.Float64)
    # Ages are measured from the journey's newest touch, so its weight is exactly 1 and old touches
    # underflow to 0 instead of the whole journey sinking into subnormal floats (which lose digits).
    staged = (
        touches.lazy()
        .with_columns(age_days.alias("__age"))
        .with_columns(
            (2.0 ** (-(pl.col("__age") - pl.col("__age").min().over("journey")) / half_life_days)).alias(
                "__decay"
            ),
            effects.alias("__effect"),
            pl.len().over("journey", "channel").alias("__k"),
        )
    )
    staged = staged.with_columns((pl.col("__effect") / pl.col("__k")).alias("__share")).with_columns(
        segment_sum(pl.col("__decay"), "journey").alias("__decay_total"),
        segment_sum(pl.col("__share"), "journey").alias("__share_total"),
    )
    return staged.with_columns(
        (pos == 0).cast(pl.Float64).alias("first_touch"),
        (pos == n - 1).cast(pl.Float64).alias("last_touch"),
        (1.0 / nf).alias("linear"),
        (pl.col("__decay") / pl.col("__decay_total")).alias("time_decay"),
        pl.when(n == 1)
        .then(1.0)
        .when(n == 2)
        .then(0.5)
        .when((pos == 0) | (pos == n - 1))
        .then(0.4)
        .otherwise(0.2 / (nf - 2.0))
        .alias("position_based"),
        pl.when(pl.col("__share_total") > 0)
        .then(pl.col("__share") / pl.col("__share_total"))
        .otherwise(1.0 / nf)
        .alias("markov_journey"),
    ).drop(pl.selectors.starts_with("__"))


def share_credits(
    journeys: Journeys, model: str, shares: dict[str, float], value_shares: dict[str, float]
) -> pl.DataFrame:
    """Credits of a global-share model: each day's conversions (revenue) times each channel's share.

    Within a day and channel the credit goes to campaigns in proportion to the channel's touches on
    that day's converted journeys, or to campaign null when it had none.
    """
    credited = journeys.conversions.filter(pl.col("n_touches") > 0)
    per_day = credited.group_by("day").agg(
        pl.len().cast(pl.Float64).alias("day_conversions"), pl.col("revenue").sum().alias("day_revenue")
    )
    channels = sorted(set(shares) | set(value_shares))
    weights = pl.DataFrame(
        {
            "channel": channels,
            "share": [shares.get(c, 0.0) for c in channels],
            "value_share": [value_shares.get(c, 0.0) for c in channels],
        },
        schema={"channel": pl.String, "share": pl.Float64, "value_share": pl.Float64},
    ).filter((pl.col("share") > 0) | (pl.col("value_share") > 0))
    touches = journeys.converted_touches.group_by("day", "channel", "campaign_id").agg(
        pl.len().cast(pl.Float64).alias("__n")
    )
    split = touches.with_columns((pl.col("__n") / pl.col("__n").sum().over("day", "channel")).alias("__frac"))
    return (
        per_day.join(weights, how="cross")
        .join(split, on=["day", "channel"], how="left")
        .select(
            "day",
            pl.lit(model).alias("model"),
            "channel",
            "campaign_id",
            (pl.col("day_conversions") * pl.col("share") * pl.col("__frac").fill_null(1.0)).alias(
                "conversions"
            ),
            (pl.col("day_revenue") * pl.col("value_share") * pl.col("__frac").fill_null(1.0)).alias(
                "revenue"
            ),
        )
    )


def credit(
    journeys: Journeys,
    half_life_days: float,
    model: MarkovModel | None = None,
    shapley: ShapleyModel | None = None,
) -> pl.DataFrame:
    """Credits per model and (day, channel, campaign) from a journey set, in long form."""
    model = model or fit_markov(transition_counts(journeys.touches))
    shapley = shapley or fit_shapley(channel_sets(journeys.touches))
    wide = (
        with_weights(journeys.converted_touches, half_life_days, model)
        .group_by(CREDIT_KEYS)
        .agg(
            *[pl.col(m).sum().alias(f"{m}|conversions") for m in TOUCH_MODELS],
            *[(pl.col(m) * pl.col("revenue")).sum().alias(f"{m}|revenue") for m in TOUCH_MODELS],
        )
        .collect()
    )
    long = pl.concat(
        [
            *[
                wide.select(
                    "day",
                    pl.lit(m).alias("model"),
                    "channel",
                    "campaign_id",
                    pl.col(f"{m}|conversions").alias("conversions"),
                    pl.col(f"{m}|revenue").alias("revenue"),
                )
                for m in TOUCH_MODELS
            ],
            share_credits(journeys, "markov", model.shares(), model.shares(value=True)),
            share_credits(journeys, "shapley", shapley.shares(), shapley.shares(value=True)),
        ],
        how="vertical_relaxed",
    )
    return long.cast(ATTRIBUTION).sort("day", "model", "channel", "campaign_id", nulls_last=True)


def attribute(
    events: pl.LazyFrame,
    lookback_days: float,
    half_life_days: float,
    touch_types: tuple[str, ...] = TOUCH_TYPES,
    *,
    credit_from: date | None = None,
    markov_order: int = 1,
) -> Attribution:
    """Journeys, the Markov chain, the Shapley values and every model's credits for ``events``.

    ``credit_from``: only conversions on or after this day are credited; earlier events are
    there to give those conversions their full lookback window (the chain and the Shapley game
    are fitted on all). ``markov_order``: 1 to 4, the number of touches a chain state remembers.
    """
    journeys = build_journeys(events, lookback_days, touch_types)
    model = fit_markov(transition_counts(journeys.touches, markov_order))
    shapley = fit_shapley(channel_sets(journeys.touches))
    if credit_from is not None:
        journeys = Journeys(
            touches=journeys.touches.filter(~pl.col("converted") | (pl.col("day") >= credit_from)),
            conversions=journeys.conversions.filter(pl.col("day") >= credit_from),
        )
    credits = credit(journeys, half_life_days, model, shapley)
    conv = journeys.conversions
    credited = conv.filter(pl.col("n_touches") > 0)
    return Attribution(
        credits=credits,
        markov=model,
        shapley=shapley,
        conversions=conv.height,
        revenue=float(conv.get_column("revenue").sum()),
        credited_conversions=credited.height,
        credited_revenue=float(credited.get_column("revenue").sum()),
    )


def attribute_lake(
    lake: Lake,
    start: date | None,
    end: date | None,
    known_campaign_ids: Collection[int] | None,
    now: datetime,
    lookback_days: float,
    half_life_days: float,
    markov_order: int = 1,
) -> Attribution:
    """Attribute the conversions between ``start`` and ``end`` from the lake's clean events.

    Events from ``lookback_days`` before ``start`` are read so early conversions get their full
    window; bad events (see :mod:`.quality`) are left out.
    """
    scan_from = start - timedelta(days=math.ceil(lookback_days)) if start is not None else None
    flagged = flag_events(lake.scan("events", scan_from, end), known_campaign_ids, now)
    return attribute(
        clean(flagged), lookback_days, half_life_days, credit_from=start, markov_order=markov_order
    )


def write_credits(lake: Lake, credits: pl.DataFrame, days: Collection[date]) -> dict[date, int]:
    """Overwrite the ``attribution`` lake table's partitions for ``days`` (empty where no credit)."""
    wanted = pl.Series(sorted(days), dtype=pl.Date).implode()
    written = {d: 0 for d in days}
    written.update(lake.write("attribution", credits.filter(pl.col("day").is_in(wanted)), mode="overwrite"))
    for d, n in written.items():
        if n == 0:
            lake.write_partition("attribution", d, credits.clear())
    return written
