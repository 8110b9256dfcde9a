"""Suggestions for the library, each with the reason and the numbers behind it.

- **retire**: the asset's CTR on a channel is significantly below that channel's baseline (the
  pooled CTR of the channel's other assets lies above the asset's Wilson upper bound);
- **promote**: significantly above it (the baseline lies below the Wilson lower bound);
- **fatigue**: CTR falling over the asset's recent exposures: a Cochran-Armitage trend test over
  the delivery days of the last ``fatigue_window_days`` (clicks credited to their delivery's day)
  is significant downwards and the recent half's CTR is at least ``fatigue_min_drop`` below the
  early half's;
- **consolidate**: near-duplicates of a group's representative;
- **spec_misfit**: an asset used on a channel whose spec (``AICMO_MEDIA_CHANNEL_SPECS``) its
  dimensions, aspect ratio or file size do not fit.

Judgements need ``min_exposures`` deliveries, so a handful of sends never retires an asset.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from aicmo.models.media import Asset
from aicmo.settings import ChannelSpec, MediaSettings
from aicmo.storage.lake import Lake
from aicmo.tasks.media.dupes import DupeGroup
from aicmo.tasks.media.performance import asset_events, daily_exposure, performance

Suggestion = dict[str, Any]


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def ctr_suggestions(per_channel: pl.DataFrame, media: MediaSettings) -> list[Suggestion]:
    """Retire and promote, against each channel's leave-one-out baseline."""
    if per_channel.is_empty():
        return []
    judged = (
        per_channel.filter(pl.col("deliveries") > 0)
        .with_columns(pl.min_horizontal("clickers", "deliveries").alias("_x"))
        .with_columns(
            (pl.col("_x").sum().over("channel") - pl.col("_x")).alias("_ox"),
            (pl.col("deliveries").sum().over("channel") - pl.col("deliveries")).alias("_on"),
        )
        .filter(pl.col("_on") > 0, pl.col("deliveries") >= media.min_exposures)
        .with_columns((pl.col("_ox") / pl.col("_on")).alias("baseline"))
    )
    out: list[Suggestion] = []
    for row in judged.iter_rows(named=True):
        numbers = {
            "ctr": round(row["ctr"], 5),
            "ctr_lo": round(row["ctr_lo"], 5),
            "ctr_hi": round(row["ctr_hi"], 5),
            "baseline_ctr": round(row["baseline"], 5),
            "deliveries": int(row["deliveries"]),
            "clickers": int(row["_x"]),
            "lift": round(row["ctr"] / row["baseline"] - 1, 4) if row["baseline"] > 0 else None,
        }
        interval = f"{_pct(row['ctr'])} (95% CI {_pct(row['ctr_lo'])}-{_pct(row['ctr_hi'])})"
        sample = f"over {int(row['deliveries']):,} deliveries"
        if row["ctr_hi"] < row["baseline"]:
            reason = f"CTR {interval} {sample} is significantly below the {row['channel']} baseline of {_pct(row['baseline'])}"
            out.append({"asset_id": row["asset_id"], "kind": "retire", "channel": row["channel"],
                        "reason": reason, "numbers": numbers})  # fmt: skip
        elif row["ctr_lo"] > row["baseline"]:
            reason = f"CTR {interval} {sample} is significantly above the {row['channel']} baseline of {_pct(row['baseline'])}"
            out.append({"asset_id": row["asset_id"], "kind": "promote", "channel": row["channel"],
                        "reason": reason, "numbers": numbers})  # fmt: skip
    return out


def fatigue_table(daily: pl.LazyFrame, window_days: int) -> pl.DataFrame:
    """Per asset and channel: the trend z of daily CTR over the recent window, early and recent CTR."""
    recent = (
        daily.with_columns(pl.col("day").max().over("asset_id", "channel").alias("_last"))
        .filter(pl.col("day") > pl.col("_last") - timedelta(days=window_days))
        .with_columns(
            (pl.col("day") - pl.col("day").min().over("asset_id", "channel")).dt.total_days().cast(pl.Float64).alias("t")
        )
        .with_columns((pl.col("t") > pl.col("t").max().over("asset_id", "channel") / 2).alias("_late"))
    )  # fmt: skip
    n, x, t = pl.col("deliveries").cast(pl.Float64), pl.col("clickers").cast(pl.Float64), pl.col("t")
    sums = recent.group_by("asset_id", "channel").agg(
        n.sum().alias("N"),
        x.sum().alias("X"),
        (n * t).sum().alias("NT"),
        (n * t * t).sum().alias("NTT"),
        (x * t).sum().alias("XT"),
        pl.len().alias("days"),
        x.filter(~pl.col("_late")).sum().alias("x_early"),
        n.filter(~pl.col("_late")).sum().alias("n_early"),
        x.filter(pl.col("_late")).sum().alias("x_recent"),
        n.filter(pl.col("_late")).sum().alias("n_recent"),
    )
    p = pl.col("X") / pl.col("N")
    tbar = pl.col("NT") / pl.col("N")
    stat = pl.col("XT") - pl.col("X") * tbar
    spread = pl.col("NTT") - pl.col("N") * tbar * tbar
    return (
        sums.with_columns(
            (stat / (p * (1 - p) * spread).sqrt()).alias("trend_z"),
            (pl.col("x_early") / pl.col("n_early")).alias("ctr_early"),
            (pl.col("x_recent") / pl.col("n_recent")).alias("ctr_recent"),
        )
        .with_columns((1 - pl.col("ctr_recent") / pl.col("ctr_early")).alias("drop"))
        .sort("asset_id", "channel")
        .collect()
    )


def fatigue_suggestions(table: pl.DataFrame, media: MediaSettings) -> list[Suggestion]:
    """Assets whose CTR declines significantly over their recent exposures."""
    flagged = table.filter(
        pl.col("days") >= 3,
        pl.col("N") >= media.min_exposures,
        pl.col("trend_z") <= -media.fatigue_z,
        pl.col("drop") >= media.fatigue_min_drop,
    )
    out = []
    for row in flagged.iter_rows(named=True):
        reason = (
            f"CTR fell from {_pct(row['ctr_early'])} to {_pct(row['ctr_recent'])} "
            f"({100 * row['drop']:.0f}% drop) over {row['days']} days of exposures "
            f"(trend z = {row['trend_z']:.2f}, {int(row['N']):,} deliveries): creative fatigue, refresh it"
        )
        out.append({
            "asset_id": int(row["asset_id"]), "kind": "fatigue", "channel": row["channel"], "reason": reason,
            "numbers": {"ctr_early": round(row["ctr_early"], 5), "ctr_recent": round(row["ctr_recent"], 5),
                        "drop": round(row["drop"], 4), "trend_z": round(row["trend_z"], 3),
                        "days": int(row["days"]), "deliveries": int(row["N"])},
        })  # fmt: skip
    return out


def consolidate_suggestions(groups: list[DupeGroup]) -> list[Suggestion]:
    """One suggestion per non-representative member of each near-duplicate group."""
    out = []
    for g in groups:
        closest: dict[int, tuple[int, int]] = {}
        for a, b, d, d2 in g.pairs:
            for member in (a, b):
                if member not in closest or (d, d2) < closest[member]:
                    closest[member] = (d, d2)
        for member in g.members[1:]:
            d, d2 = closest.get(member, (0, 0))
            reason = (
                f"near-duplicate of asset {g.representative} (group of {len(g.members)}, "
                f"pHash distance {d}, dHash distance {d2}): keep asset {g.representative}, retire this copy"
            )
            out.append({
                "asset_id": member, "kind": "consolidate", "channel": None, "reason": reason,
                "numbers": {"keep": g.representative, "group_size": len(g.members),
                            "phash_distance": d, "dhash_distance": d2},
            })  # fmt: skip
    return out


def misfits(asset: Asset, spec: ChannelSpec) -> list[str]:
    """What about ``asset`` does not fit ``spec`` (empty when it fits)."""
    problems = []
    w, h = asset.width, asset.height
    if w and h:
        if w < spec.min_width or h < spec.min_height:
            problems.append(f"{w}x{h} is smaller than the minimum {spec.min_width}x{spec.min_height}")
        if (spec.max_width and w > spec.max_width) or (spec.max_height and h > spec.max_height):
            problems.append(
                f"{w}x{h} is larger than the maximum {spec.max_width or '-'}x{spec.max_height or '-'}"
            )
        aspect = w / h
        if not spec.min_aspect <= aspect <= spec.max_aspect:
            problems.append(f"aspect ratio {aspect:.2f} is outside {spec.min_aspect:g}-{spec.max_aspect:g}")
    if asset.size_bytes and asset.size_bytes > spec.max_bytes:
        problems.append(f"{asset.size_bytes:,} bytes is over the {spec.max_bytes:,}-byte limit")
    return problems


def spec_suggestions(
    assets: dict[int, Asset], used_on: dict[int, set[str]], specs: dict[str, ChannelSpec]
) -> list[Suggestion]:
    """Assets used on a channel whose spec they do not fit."""
    out = []
    for asset_id in sorted(used_on):
        asset = assets.get(asset_id)
        if asset is None or asset.kind not in ("image", "animated_gif"):
            continue
        for channel in sorted(used_on[asset_id]):
            spec = specs.get(channel)
            if spec is None:
                continue
            problems = misfits(asset, spec)
            if problems:
                out.append({
                    "asset_id": asset_id, "kind": "spec_misfit", "channel": channel,
                    "reason": f"does not fit the {channel} spec: " + "; ".join(problems),
                    "numbers": {"width": asset.width, "height": asset.height, "size_bytes": asset.size_bytes,
                                "aspect": round(asset.width / asset.height, 3) if asset.width and asset.height else None,
                                "spec": spec.model_dump(exclude={"widths", "format", "quality"})},
                })  # fmt: skip
    return out


def performance_suggestions(lake: Lake, media: MediaSettings) -> tuple[pl.DataFrame, list[Suggestion]]:
    """Per-asset-and-channel performance, and the retire/promote/fatigue suggestions drawn from it."""
    per_channel = performance(lake, media.confidence_z, by_campaign=False)
    found = ctr_suggestions(per_channel, media)
    found += fatigue_suggestions(
        fatigue_table(daily_exposure(asset_events(lake)), media.fatigue_window_days), media
    )
    return per_channel, found
