"""Campaign KPIs from the events lake: counts, unique counts, revenue, cost and the rates over them.

Every KPI is one Polars expression over the events of a group (day x campaign x channel, or a
roll-up), so the same code computes the daily table and the roll-ups, lazily and streamable.

Unique counts (unique opens, unique clicks) are distinct contacts within the group. They are not
additive: the unique openers of a campaign over a month are fewer than the sum of its daily unique
openers. Roll-ups therefore re-aggregate the events with the roll-up's keys
(:func:`rollup_kpis`); only the additive columns could be summed from ``kpis_daily``.

Rates divide by the denominator that makes them meaningful and are null, never an error or an
infinity, when that denominator is zero:

============== =============================== ============================
rate           numerator                       denominator
============== =============================== ============================
delivery_rate  deliveries                      sends
bounce_rate    bounces                         sends
open_rate      unique_opens                    open_tracked_deliveries
ctr            delivery_tracked_unique_clicks  deliveries
click_to_open  open_tracked_unique_clicks      unique_opens
conversion_rate conversions                    unique_clicks
unsubscribe_rate unsubscribes                  deliveries
cpa            cost                            conversions
roas           revenue                         cost
roi            (revenue - cost)                cost
============== =============================== ============================

Rates that mix channels count only the channels where both sides are measured. Opens exist only
on :data:`OPEN_TRACKING_CHANNELS`, so ``open_rate`` divides by the deliveries of those channels
(``open_tracked_deliveries``) and ``click_to_open`` counts only their clickers
(``open_tracked_unique_clicks``); otherwise a roll-up over email and SMS would divide email opens
by SMS deliveries too, and count SMS clickers as clicks "after an open" (a click-to-open above 1).
Likewise ``ctr`` counts only the clickers of :data:`DELIVERY_CHANNELS` (``delivery_tracked_unique_clicks``):
ads, search or social clicks have no delivery and would inflate it. On a single channel's row
these columns equal ``deliveries`` and ``unique_clicks`` (or are zero), so its rates are unchanged.

Conversion rate is per unique clicker so that it means the same on channels without deliveries
(ads, search, social), where a click is the first measured interaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime

import polars as pl
from sqlalchemy.orm import Session

from aicmo.models.lake import EVENT_QUALITY, KPI_RATE_COLUMNS, KPIS_DAILY
from aicmo.storage.analytics import partition_write_times
from aicmo.storage.lake import Lake
from aicmo.storage.runs import partitions_written_since
from aicmo.tasks.analytics.quality import clean, flag_events, quality_report

OPEN_TRACKING_CHANNELS = ("email", "push")
"""Channels that record opens: an email's open (tracking pixel) and a push notification's tap. SMS
and webhooks are delivered but never opened, and ads, search, social, organic and direct traffic
start at the click, so open-based rates count only these channels."""
DELIVERY_CHANNELS = ("email", "sms", "push", "webhook")
"""Channels whose messages are sent and delivered (the owned channels): the only clicks that have a
delivery to divide by."""

COUNT_COLUMNS: dict[str, str] = {
    "sends": "send",
    "deliveries": "deliver",
    "bounces": "bounce",
    "opens": "open",
    "clicks": "click",
    "conversions": "convert",
    "unsubscribes": "unsubscribe",
    "complaints": "complaint",
    "open_tracked_deliveries": "deliver",
}
"""Additive counts: the events of a type in the group (restricted to :data:`CHANNEL_SCOPES` if named there)."""
HUMAN_COLUMNS: dict[str, str] = {"human_opens": "open", "human_clicks": "click"}
"""Additive counts without the events the tracking service flagged as a machine's (``is_machine``:
Apple Mail Privacy Protection opens, link-scanner clicks); ``opens`` and ``clicks`` stay raw."""
UNIQUE_COLUMNS: dict[str, str] = {
    "unique_opens": "open",
    "unique_clicks": "click",
    "open_tracked_unique_clicks": "click",
    "delivery_tracked_unique_clicks": "click",
}
"""Distinct contacts with an event of a type in the group (restricted to :data:`CHANNEL_SCOPES` if named there)."""
CHANNEL_SCOPES: dict[str, tuple[str, ...]] = {
    "open_tracked_deliveries": OPEN_TRACKING_CHANNELS,
    "open_tracked_unique_clicks": OPEN_TRACKING_CHANNELS,
    "delivery_tracked_unique_clicks": DELIVERY_CHANNELS,
}
"""Columns that count only the events of some channels: the numerators and denominators of the
rates that would otherwise mix channels where one side is not measured (see the module docstring)."""
MONEY_COLUMNS = ("revenue", "event_cost", "ad_spend", "cost")
RATE_COLUMNS = KPI_RATE_COLUMNS
DAILY_KEYS = ("day", "campaign_id", "channel")
KPIS_TABLE = "kpis_daily"
NO_SHARED_SCAN = pl.QueryOptFlags(comm_subplan_elim=False)
"""Counts and unique counts are two branches over one scan. Sharing that scan (common subplan
elimination) would materialise every event in memory (4.4 GB for 50M); reading the Parquet twice
streams in ~1.3 GB and was faster too on 2 cores."""
QUALITY_TABLE = "event_quality"
SOURCE_TABLES = ("events", "ad_spend")
ADS_CHANNEL = "ads"

KPI_DTYPES: dict[str, pl.DataType] = {
    **{c: pl.Int64() for c in COUNT_COLUMNS},
    **{c: pl.Int64() for c in UNIQUE_COLUMNS},
    **{c: pl.Float64() for c in MONEY_COLUMNS},
    **{c: pl.Float64() for c in RATE_COLUMNS},
    **{c: pl.Int64() for c in HUMAN_COLUMNS},
}


def safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den`` as a float, null where the denominator is zero or null."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(None)


def in_scope(column: str) -> pl.Expr:
    """Whether an event's channel counts towards ``column`` (always true for unscoped columns)."""
    if column not in CHANNEL_SCOPES:
        return pl.lit(True)
    return pl.col("channel").is_in(pl.Series(CHANNEL_SCOPES[column]).implode()).fill_null(False)


def count_exprs() -> list[pl.Expr]:
    """Aggregations of the additive counts and the money of a group of events."""
    kind = pl.col("type")
    counts = [
        ((kind == t) & in_scope(name)).sum().cast(pl.Int64).alias(name) for name, t in COUNT_COLUMNS.items()
    ]
    human = ~pl.col("is_machine").fill_null(False)
    counts += [((kind == t) & human).sum().cast(pl.Int64).alias(name) for name, t in HUMAN_COLUMNS.items()]
    money = [
        pl.col("revenue").fill_null(0.0).sum().alias("revenue"),
        pl.col("cost").fill_null(0.0).sum().alias("event_cost"),
    ]
    return [*counts, *money]


def unique_counts(events: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """Distinct contacts per group among opens and among clicks: the :data:`UNIQUE_COLUMNS`.

    A separate filtered ``group_by`` rather than a filter inside the main aggregation: hashing
    only the open/click rows is several times faster than a per-group filtered ``n_unique``. The
    event type is carried as a boolean (open or not), which keeps the streaming hash tables of
    50M events ~200 MB smaller than a string key.

    Channel-scoped columns (:data:`CHANNEL_SCOPES`) cost nothing when ``channel`` is a key: a
    group's channel is in the scope or not, so they are its unique clicks or zero. Without a
    channel key a contact who clicked on email and on SMS is one unique clicker in and one out of
    a scope, so the events are first reduced to one row per group x contact carrying whether any
    of its events was in each scope, then counted (on 50M events overall ~1.6x the time of the
    plain distinct count; only roll-ups without a channel key pay it).
    """
    keys = list(keys)
    kinds = pl.Series(list(UNIQUE_COLUMNS.values())).implode()
    open_type = UNIQUE_COLUMNS["unique_opens"]
    is_open = (pl.col("type") == open_type).alias("__open")
    rows = events.filter(pl.col("type").is_in(kinds) & pl.col("contact_id").is_not_null())
    scoped = [name for name in UNIQUE_COLUMNS if name in CHANNEL_SCOPES]

    def of_type(column: str, source: str) -> pl.Expr:
        typed = pl.col("__open") if UNIQUE_COLUMNS[column] == open_type else ~pl.col("__open")
        return pl.col(source).filter(typed).sum().cast(pl.Int64).alias(column)

    if "channel" in keys or not scoped:
        per_type = rows.group_by([*keys, is_open]).agg(pl.col("contact_id").n_unique().alias("__n"))
        wide = [of_type(name, "__n") for name in UNIQUE_COLUMNS if name not in CHANNEL_SCOPES]
        unscoped = {t: name for name, t in UNIQUE_COLUMNS.items() if name not in CHANNEL_SCOPES}
        derived = [
            pl.when(in_scope(name)).then(pl.col(unscoped[UNIQUE_COLUMNS[name]])).otherwise(0).alias(name)
            for name in scoped
        ]
    else:
        per_contact = rows.group_by([*keys, is_open, "contact_id"]).agg(
            in_scope(name).any().alias(f"__in_{name}") for name in scoped
        )
        per_type = per_contact.group_by([*keys, "__open"]).agg(
            pl.len().alias("__n"), *[pl.col(f"__in_{name}").sum().alias(f"__n_{name}") for name in scoped]
        )
        wide = [of_type(name, f"__n_{name}" if name in CHANNEL_SCOPES else "__n") for name in UNIQUE_COLUMNS]
        derived = []
    out = per_type.group_by(keys).agg(wide) if keys else per_type.select(wide)
    return out.with_columns(derived).select(*keys, *UNIQUE_COLUMNS) if derived else out


def rate_exprs() -> list[pl.Expr]:
    """The rates, each over its proper denominator (see the module docstring)."""
    c = pl.col
    return [
        safe_div(c("deliveries"), c("sends")).alias("delivery_rate"),
        safe_div(c("bounces"), c("sends")).alias("bounce_rate"),
        safe_div(c("unique_opens"), c("open_tracked_deliveries")).alias("open_rate"),
        safe_div(c("delivery_tracked_unique_clicks"), c("deliveries")).alias("ctr"),
        safe_div(c("open_tracked_unique_clicks"), c("unique_opens")).alias("click_to_open"),
        safe_div(c("conversions"), c("unique_clicks")).alias("conversion_rate"),
        safe_div(c("unsubscribes"), c("deliveries")).alias("unsubscribe_rate"),
        safe_div(c("cost"), c("conversions")).alias("cpa"),
        safe_div(c("revenue"), c("cost")).alias("roas"),
        safe_div(c("revenue") - c("cost"), c("cost")).alias("roi"),
    ]


def _with_day(events: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``day``: the lake's ``dt`` partition column when scanned from the lake (the UTC date
    of ``ts`` by construction, and free to read), else the UTC date of ``ts``."""
    names = events.collect_schema().names()
    if "day" in names:
        return events
    return events.with_columns((pl.col("dt") if "dt" in names else pl.col("ts").dt.date()).alias("day"))


def _spend_by(ad_spend: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """Ad-platform spend summed per ``keys`` (of day, campaign_id, channel), all on the ads channel."""
    spend = ad_spend.select(
        pl.col("date").alias("day"),
        pl.col("campaign_id"),
        pl.lit(ADS_CHANNEL).alias("channel"),
        pl.col("spend").fill_null(0.0),
    )
    if not keys:
        return spend.select(pl.col("spend").sum().alias("ad_spend"))
    return spend.group_by(list(keys)).agg(pl.col("spend").sum().alias("ad_spend"))


def aggregate_kpis(
    events: pl.LazyFrame, keys: Sequence[str], ad_spend: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """KPIs of ``events`` grouped by ``keys`` (any of day, campaign_id, channel; empty = overall).

    ``ad_spend`` rows (the lake's ``ad_spend`` table) add their spend to the cost of the ads
    channel's groups; a group with spend but no events still gets a row.
    """
    keys = list(keys)
    events = _with_day(events)
    if "is_machine" not in events.collect_schema().names():  # events from before the tracking service
        events = events.with_columns(pl.lit(None, pl.Boolean).alias("is_machine"))
    if keys:
        agg = events.group_by(keys).agg(count_exprs())
        agg = agg.join(unique_counts(events, keys), on=keys, how="left", nulls_equal=True)
    else:
        agg = pl.concat([events.select(count_exprs()), unique_counts(events, keys)], how="horizontal")
    if ad_spend is not None:
        spend = _spend_by(ad_spend, keys)
        if keys:
            agg = agg.join(spend, on=keys, how="full", coalesce=True, nulls_equal=True)
        else:
            agg = pl.concat([agg, spend], how="horizontal")
    else:
        agg = agg.with_columns(pl.lit(0.0).alias("ad_spend"))
    fill = [pl.col(c).fill_null(0) for c in [*COUNT_COLUMNS, *UNIQUE_COLUMNS, *HUMAN_COLUMNS]]
    fill += [pl.col(c).fill_null(0.0) for c in ("revenue", "event_cost", "ad_spend")]
    agg = agg.with_columns(fill).with_columns((pl.col("event_cost") + pl.col("ad_spend")).alias("cost"))
    agg = agg.with_columns(rate_exprs())
    columns = [*keys, *KPI_DTYPES]
    agg = agg.select(pl.col(c).cast(KPI_DTYPES[c]) if c in KPI_DTYPES else pl.col(c) for c in columns)
    return agg.sort(keys, nulls_last=True) if keys else agg


def daily_kpis(events: pl.LazyFrame, ad_spend: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per day x campaign x channel (the ``kpis_daily`` lake table's rows)."""
    return aggregate_kpis(events, DAILY_KEYS, ad_spend)


ROLLUPS: dict[str, tuple[str, ...]] = {
    "campaign": ("campaign_id", "channel"),
    "channel": ("channel",),
    "overall": (),
}


def rollup_kpis(events: pl.LazyFrame, ad_spend: pl.LazyFrame | None = None) -> dict[str, pl.DataFrame]:
    """KPIs over the whole period per campaign, per channel and overall, uniques recomputed from events."""
    frames = [aggregate_kpis(events, keys, ad_spend) for keys in ROLLUPS.values()]
    collected = pl.collect_all(frames, engine="streaming", optimizations=NO_SHARED_SCAN)
    return dict(zip(ROLLUPS, collected, strict=True))


def rerate(daily: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """Sum a daily KPI table's additive columns per ``keys`` and recompute its rates.

    Only valid for frames whose rows have disjoint contacts per key (e.g. the days of one group
    when looking at days); unique counts are summed, which over-counts contacts active on several
    days. Trends use it per day, where no contact is counted twice. The channel-scoped columns
    (``open_tracked_deliveries`` and the scoped unique clicks) are summed with the rest, so the
    open-based rates and the CTR of a multi-channel sum stay within their channels.
    """
    additive = [*COUNT_COLUMNS, *UNIQUE_COLUMNS, *MONEY_COLUMNS]
    return (
        daily.group_by(list(keys))
        .agg(pl.col(c).sum() for c in additive)
        .with_columns(rate_exprs())
        .sort(list(keys))
    )


def compute_daily_kpis(
    events: pl.LazyFrame, ad_spend: pl.LazyFrame | None = None, *, streaming: bool = True
) -> pl.DataFrame:
    """Collect :func:`daily_kpis` (streaming engine by default: bounded memory, faster on big scans;
    see :data:`NO_SHARED_SCAN`)."""
    if not streaming:
        return daily_kpis(events, ad_spend).collect()
    return daily_kpis(events, ad_spend).collect(engine="streaming", optimizations=NO_SHARED_SCAN)


def touched_days(
    session: Session, lake: Lake, start: date | None = None, end: date | None = None, *, full: bool = False
) -> list[date]:
    """Days whose ``kpis_daily`` partition must be recomputed.

    With ``full`` (a backfill) every day with events or ad spend in the range. Otherwise a day is
    touched when its events or ad-spend partition was written (per ``LakePartitionState``) after
    its ``kpis_daily`` partition, or when it has no ``kpis_daily`` partition yet (covers lake
    writers that did not record their partitions).
    """

    def in_range(d: date) -> bool:
        return (start is None or d >= start) and (end is None or d <= end)

    source_days = {d for t in SOURCE_TABLES for d in lake.partitions(t) if in_range(d)}
    if full:
        return sorted(source_days)
    have = set(lake.partitions(KPIS_TABLE))
    kpi_at = partition_write_times(session, KPIS_TABLE)
    touched = {d for d in source_days if d not in have or d not in kpi_at}
    for table in SOURCE_TABLES:
        for d in partitions_written_since(session, table, None):
            if not in_range(d) or d in touched:
                continue
            written = partition_write_times(session, table).get(d)
            if written is not None and written > kpi_at.get(d, written):
                touched.add(d)
    return sorted(touched)


def recompute_daily_kpis(
    lake: Lake, days: Sequence[date], known_campaign_ids: Collection[int] | None, now: datetime
) -> tuple[dict[date, int], pl.DataFrame]:
    """Rebuild ``kpis_daily`` and ``event_quality`` for ``days`` from the lake's clean events.

    Duplicates are judged against the events of every other day too, so recomputing one day gives
    the same answer as recomputing all. Each day's partition is overwritten atomically (a day left
    with no clean events gets an empty partition). Returns KPI rows per day and the quality report.
    """
    if not days:
        return {}, pl.DataFrame(schema=EVENT_QUALITY)
    wanted = pl.Series("dt", sorted(days), dtype=pl.Date)
    events = lake.scan("events", min(days), max(days)).filter(pl.col("dt").is_in(wanted.implode()))
    elsewhere = (
        lake.scan("events").filter(~pl.col("dt").is_in(wanted.implode())).select("event_id", "ts", "dt")
        if len(lake.partitions("events")) > len(days)
        else None
    )
    flagged = flag_events(events, known_campaign_ids, now, elsewhere=elsewhere)
    report = quality_report(flagged)
    ad_spend = lake.scan("ad_spend", min(days), max(days)).filter(pl.col("dt").is_in(wanted.implode()))
    clean_events = clean(flagged).with_columns(pl.col("dt").alias("day"))
    daily = daily_kpis(clean_events, ad_spend).collect(engine="streaming", optimizations=NO_SHARED_SCAN)
    written = {d: 0 for d in days}
    written.update(lake.write(KPIS_TABLE, daily, mode="overwrite"))
    for d in days:
        if written[d] == 0:
            lake.write_partition(KPIS_TABLE, d, pl.DataFrame(schema=KPIS_DAILY))
    quality_days = set(lake.write(QUALITY_TABLE, report, mode="overwrite"))
    for d in set(days) - quality_days:
        lake.write_partition(QUALITY_TABLE, d, pl.DataFrame(schema=EVENT_QUALITY))
    return written, report


def window_rollups(
    lake: Lake,
    start: date | None,
    end: date | None,
    known_campaign_ids: Collection[int] | None,
    now: datetime,
) -> dict[str, pl.DataFrame]:
    """Per-campaign, per-channel and overall KPIs of the window, from its clean events and spend."""
    events = clean(flag_events(lake.scan("events", start, end), known_campaign_ids, now))
    return rollup_kpis(events, lake.scan("ad_spend", start, end))
