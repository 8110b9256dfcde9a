"""The event log kept as integer codes until it is written, one day partition at a time.

Ten million events with their channel, type and four UTM strings per row would take gigabytes;
as codes (channel, type, campaign, creative and UTM keys into small lookup tables) they take a few
hundred megabytes, and only one day's rows are ever turned into the lake's EVENTS schema at once.
Event ids are ``s<seed>-<n>`` with ``n`` the event's rank in time order, so they are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from aicmo.models.lake import EVENT_TYPES
from aicmo.tasks.sample.plan import OWNED_CHANNELS, SEND_COST, CampaignPlan
from aicmo.tasks.sample.purchases import US_PER_DAY

ALL_CHANNELS = (*OWNED_CHANNELS, "ads", "search", "social", "organic", "direct")
UTM_SOURCE = {"email": "newsletter", "sms": "sms", "push": "app", "webhook": "partner"}
UTM_COLUMNS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")
TAGGED = (EVENT_TYPES.index("click"), EVENT_TYPES.index("convert"))
SEND = EVENT_TYPES.index("send")


def _codes(col: str, values: list[Any], dtype: Any) -> pl.Expr:
    """``values[col]`` for a small lookup list (null codes stay null)."""
    return pl.col(col).replace_strict(list(range(len(values))), values, default=None, return_dtype=dtype)


@dataclass
class EventLog:
    """Events sorted by time as codes, with the lookups that turn them into the EVENTS schema."""

    frame: pl.DataFrame  # contact_id, ts, ch, type, campaign_key, asset_key, utm_key, revenue
    campaign_ids: list[int]
    asset_ids: list[int]
    utm: pl.DataFrame  # utm_key + UTM_COLUMNS
    seed: int

    @property
    def height(self) -> int:
        return self.frame.height

    def counts_by_type(self) -> dict[str, int]:
        counts = self.frame.group_by("type").len()
        return {EVENT_TYPES[int(t)]: int(n) for t, n in counts.sort("type").iter_rows()}

    def daily_count(self, channel: str, event_type: str) -> dict[date, int]:
        """Events of one channel and type per day."""
        picked = self.frame.filter(
            (pl.col("ch") == ALL_CHANNELS.index(channel)) & (pl.col("type") == EVENT_TYPES.index(event_type))
        )
        days = picked.group_by((pl.col("ts") // US_PER_DAY).alias("day")).len()
        return {date(1970, 1, 1) + timedelta(days=int(d)): int(n) for d, n in days.iter_rows()}

    def days(self, window: list[date]) -> Iterator[tuple[date, pl.DataFrame]]:
        """Each window day and its events in the EVENTS schema (possibly empty)."""
        ts = self.frame["ts"].to_numpy()
        for day in window:
            first = (day - date(1970, 1, 1)).days * US_PER_DAY
            lo, hi = np.searchsorted(ts, [first, first + US_PER_DAY])
            yield day, self.materialize(self.frame.slice(int(lo), int(hi - lo)), int(lo))

    def materialize(self, part: pl.DataFrame, offset: int) -> pl.DataFrame:
        """Rows of ``part`` (starting at rank ``offset``) in the EVENTS schema's columns."""
        costs = [SEND_COST.get(c) for c in ALL_CHANNELS]
        return part.join(self.utm, on="utm_key", how="left", maintain_order="left").select(
            pl.format("s{}-{}", pl.lit(self.seed), pl.int_range(pl.len(), dtype=pl.Int64) + offset).alias(
                "event_id"
            ),
            pl.col("ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "contact_id",
            _codes("campaign_key", self.campaign_ids, pl.Int64).alias("campaign_id"),
            _codes("ch", list(ALL_CHANNELS), pl.String).alias("channel"),
            _codes("type", list(EVENT_TYPES), pl.String).alias("type"),
            _codes("asset_key", self.asset_ids, pl.Int64).alias("asset_id"),
            "revenue",
            pl.when(pl.col("type") == SEND).then(_codes("ch", costs, pl.Float64)).alias("cost"),
            *UTM_COLUMNS,
        )


def build_event_log(
    campaign_events: pl.DataFrame,
    touch_events: pl.DataFrame,
    plan: CampaignPlan,
    sources: pl.DataFrame,
    utm_campaigns: list[str],
    creative_stems: list[str],
    owned_ids: list[int],
    ads_ids: list[int],
    asset_ids: list[int],
    contact_ids: np.ndarray[Any, Any],
    seed: int,
) -> EventLog:
    """Owned-channel and touch events as one code frame sorted by time (stable, so deterministic)."""
    n_owned = len(plan)
    camp_asset = pl.Series([int(a) if a >= 0 else None for a in plan.asset], dtype=pl.Int64)
    owned = campaign_events.select(
        "contact",
        "ts",
        pl.col("ch").cast(pl.Int8),
        pl.col("type").cast(pl.Int8),
        pl.col("camp").alias("campaign_key"),
        _codes("camp", camp_asset.to_list(), pl.Int64).alias("asset_key"),
        pl.when(pl.col("type").is_in(TAGGED)).then(pl.col("camp")).alias("utm_key"),
        "revenue",
    )
    src = sources.select(
        "source",
        pl.col("channel").replace_strict(list(ALL_CHANNELS), list(range(len(ALL_CHANNELS))), return_dtype=pl.Int8)
        .alias("ch"),
        (pl.col("ads_idx") + n_owned).alias("campaign_key"),
        pl.col("asset").alias("asset_key"),
    )  # fmt: skip
    other = touch_events.join(src, on="source", how="left", maintain_order="left").select(
        "contact",
        "ts",
        "ch",
        "type",
        "campaign_key",
        "asset_key",
        (pl.col("source") + n_owned).alias("utm_key"),
        "revenue",
    )
    frame = pl.concat([owned, other], how="vertical_relaxed").sort("ts", maintain_order=True)
    frame = frame.with_columns(pl.Series("contact_id", contact_ids[frame["contact"].to_numpy()])).drop(
        "contact"
    )
    owned_utm = pl.DataFrame(
        {
            "utm_key": np.arange(n_owned, dtype=np.int64),
            "utm_source": [UTM_SOURCE[OWNED_CHANNELS[int(c)]] for c in plan.channel],
            "utm_medium": [OWNED_CHANNELS[int(c)] for c in plan.channel],
            "utm_campaign": utm_campaigns,
            "utm_content": pl.Series(
                [creative_stems[a] if a >= 0 else None for a in plan.asset], dtype=pl.String
            ),
        }
    )
    source_utm = sources.select((pl.col("source") + n_owned).alias("utm_key"), *UTM_COLUMNS)
    return EventLog(
        frame=frame,
        campaign_ids=[*owned_ids, *ads_ids],
        asset_ids=asset_ids,
        utm=pl.concat([owned_utm, source_utm], how="vertical_relaxed"),
        seed=seed,
    )
