"""Shapley-value attribution over channel sets (the simplified Shapley value of Zhao et al. 2018).

A journey's *coalition* is the set of distinct channels it touched. Each coalition ``T`` observed
in the data has a conversion rate ``cr(T)`` (converting journeys with exactly that channel set over
all journeys with it) and a value rate ``vr(T)`` (their revenue over the same journeys). The
characteristic function of a set of channels ``S`` is the sum of the rates of the coalitions it
contains, ``v(S) = sum over T subset of S of cr(T)``. For that game the Shapley value has a closed
form (Zhao, Mahboobi and Bagheri 2018, "Shapley value methods for attribution modeling in online
advertising"; eeghor/mta computes the same game by enumerating coalitions):

    phi(c) = sum over observed T containing c of cr(T) / |T|

so its cost is one pass over the distinct channel sets, whatever the number of channels (16 and
more are fine), instead of the ``2^n`` coalitions of the general formula. The shares
``phi(c) / sum phi`` split the total conversions (and, from ``vr``, the total value), so the credits
add up to exactly the credited conversions and revenue.

Using rates rather than conversion counts means a channel present in many journeys that do not
convert earns less than one whose journeys convert, which counts alone would not see.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ShapleyModel:
    """Shapley values of the conversion-rate game (``values``) and of the value-rate game."""

    channels: list[str]
    values: dict[str, float]
    value_values: dict[str, float]
    coalitions: int

    def shares(self, value: bool = False) -> dict[str, float]:
        """Each channel's share of the Shapley values: the weights that split conversions (or value)."""
        phi = self.value_values if value else self.values
        total = sum(phi.values())
        return {c: (v / total if total > 0 else 0.0) for c, v in phi.items()}

    def frame(self) -> pl.DataFrame:
        """Per channel: Shapley value and share, for conversions and for value."""
        shares, value_shares = self.shares(), self.shares(value=True)
        return pl.DataFrame(
            {
                "channel": self.channels,
                "shapley": [self.values[c] for c in self.channels],
                "share": [shares[c] for c in self.channels],
                "value_shapley": [self.value_values[c] for c in self.channels],
                "value_share": [value_shares[c] for c in self.channels],
            },
            schema={
                "channel": pl.String,
                "shapley": pl.Float64,
                "share": pl.Float64,
                "value_shapley": pl.Float64,
                "value_share": pl.Float64,
            },
        ).sort("channel")


def channel_sets(touches: pl.DataFrame) -> pl.DataFrame:
    """Distinct channel sets of the journeys: ``channels`` (sorted list), ``journeys``, ``conversions``, ``value``.

    Up to 63 channels a journey's set is a bitmask (one ``bitwise_or`` per journey, integers
    only); the few distinct masks are then decoded to channel lists. More channels take the
    slower list path.
    """
    names = sorted(touches.get_column("channel").unique().drop_nulls().to_list())
    per_journey: pl.LazyFrame
    if len(names) <= 63:
        bit = pl.col("channel").replace_strict(
            names, [1 << i for i in range(len(names))], return_dtype=pl.Int64
        )
        per_journey = (
            touches.lazy()
            .group_by("journey")
            .agg(
                bit.bitwise_or().alias("mask"),
                pl.col("converted").first(),
                pl.col("revenue").first().fill_null(0.0),
            )
        )
        key = "mask"
    else:
        per_journey = (
            touches.lazy()
            .group_by("journey")
            .agg(
                pl.col("channel").unique().sort().alias("channels"),
                pl.col("converted").first(),
                pl.col("revenue").first().fill_null(0.0),
            )
        )
        key = "channels"
    sets = (
        per_journey.group_by(key)
        .agg(
            pl.len().cast(pl.Int64).alias("journeys"),
            pl.col("converted").sum().cast(pl.Int64).alias("conversions"),
            pl.col("revenue").filter(pl.col("converted")).sum().alias("value"),
        )
        .collect()
    )
    if key == "mask":
        decoded = [
            [n for i, n in enumerate(names) if mask >> i & 1] for mask in sets.get_column("mask").to_list()
        ]
        sets = sets.drop("mask").insert_column(0, pl.Series("channels", decoded, dtype=pl.List(pl.String)))
    return sets


def fit_shapley(sets: pl.DataFrame) -> ShapleyModel:
    """Shapley values of every channel from the channel-set table of :func:`channel_sets`."""
    size = pl.col("channels").list.len().cast(pl.Float64)
    per_channel = (
        sets.lazy()
        .filter(pl.col("journeys") > 0)
        .with_columns(
            (pl.col("conversions") / pl.col("journeys") / size).alias("__cr"),
            (pl.col("value") / pl.col("journeys") / size).alias("__vr"),
        )
        .explode("channels")
        .group_by(pl.col("channels").alias("channel"))
        .agg(pl.col("__cr").sum().alias("phi"), pl.col("__vr").sum().alias("phi_value"))
        .sort("channel")
        .collect()
    )
    channels = per_channel.get_column("channel").to_list()
    return ShapleyModel(
        channels=channels,
        values=dict(zip(channels, per_channel.get_column("phi").to_list(), strict=True)),
        value_values=dict(zip(channels, per_channel.get_column("phi_value").to_list(), strict=True)),
        coalitions=sets.height,
    )
