"""Storage of the paid-ads phase: imported spend into the lake's ``ad_spend`` day partitions, and
the log of budget and bid changes sent to the platforms (``ad_changes``).

An import replaces, day by day, every row of the platforms and accounts it covers, so importing
an overlapping date range twice never counts a day twice; other platforms' and accounts' rows in
the same partitions are kept. Each day is one atomic partition write.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicmo.models.ads import AdChange
from aicmo.models.lake import AD_SPEND
from aicmo.storage.lake import Lake

TABLE = "ad_spend"
WRITE_THREADS = 4  # Parquet encoding releases the GIL; a few partitions at once hide the file I/O


@dataclass(frozen=True)
class Coverage:
    """The days one import speaks for, for one platform and account."""

    platform: str
    account: str
    start: date
    end: date


@dataclass(frozen=True)
class ReplaceResult:
    """What a replacement did: rows written, rows of earlier imports replaced, days touched."""

    rows_written: int
    rows_replaced: int
    days: dict[date, int]


def _days(cover: Sequence[Coverage]) -> list[date]:
    days: set[date] = set()
    for c in cover:
        days.update(c.start + timedelta(days=i) for i in range((c.end - c.start).days + 1))
    return sorted(days)


def _covered(cover: Sequence[Coverage], day: date) -> pl.Expr:
    """Rows of a platform and account this import covers on ``day``."""
    pairs = [(c.platform, c.account) for c in cover if c.start <= day <= c.end]
    expr = pl.lit(False)
    for platform, account in pairs:
        expr = expr | ((pl.col("platform") == platform) & (pl.col("account").fill_null("") == account))
    return expr


def replace_ad_spend(lake: Lake, rows: pl.DataFrame, cover: Sequence[Coverage]) -> ReplaceResult:
    """Write ``rows`` (the ``ad_spend`` schema) so that they replace what the lake held for ``cover``.

    Every day of each coverage is rewritten: the platform/account's old rows go, the new ones
    come in, the rest of the partition stays; a day left empty loses its partition.
    """
    existing = set(lake.partitions(TABLE))
    # Days with no partition yet: nothing to keep or replace, all written in one partitioned sink.
    fresh = rows.filter(~pl.col("date").is_in(sorted(existing)))
    written = lake.write_new_partitions(TABLE, fresh) if fresh.height else {}
    del fresh
    old_days = rows.filter(pl.col("date").is_in(sorted(existing)))
    by_day: dict[date, pl.DataFrame] = {
        key[0]: part
        for key, part in old_days.partition_by("date", as_dict=True).items()
        if isinstance(key[0], date)
    }
    empty = pl.DataFrame(schema=AD_SPEND)

    def one_day(day: date) -> tuple[date, int, int]:
        """Replace the covered platforms' and accounts' rows of a day that already has a partition."""
        new = by_day.get(day, empty)
        old = lake.read_partition(TABLE, day)
        replaced = old.filter(_covered(cover, day)).height
        kept = old.filter(~_covered(cover, day))
        merged = pl.concat([kept, new.select(AD_SPEND.names()).cast(AD_SPEND)], how="vertical")
        if merged.height == 0:
            lake.drop_partition(TABLE, day)
            return day, 0, replaced
        return day, lake.write_partition(TABLE, day, merged, mode="overwrite"), replaced

    days = sorted((set(_days(cover)) | set(by_day)) & existing)
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        results = list(pool.map(one_day, days))
    counts = {**written, **{day: n for day, n, _ in results}}
    counts.update({day: 0 for day in _days(cover) if day not in counts})  # covered, nothing left
    return ReplaceResult(
        rows_written=rows.height,
        rows_replaced=sum(r for _, _, r in results),
        days=dict(sorted(counts.items())),
    )


# ---- ad_changes: every budget, bid and status change, with the platform's answer -------------------
def record_change(session: Session, **fields: Any) -> int:
    """Add one change to the log; returns its id."""
    change = AdChange(**fields)
    session.add(change)
    session.flush()
    return int(change.id)


def recent_changes(session: Session, limit: int = 50, since: datetime | None = None) -> list[AdChange]:
    """The latest changes, newest first."""
    query = select(AdChange).order_by(AdChange.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AdChange.at >= since)
    return list(session.scalars(query))


def ad_campaign_flights(session: Session) -> list[tuple[str, float, date, date]]:
    """``(name, budget, starts_on, ends_on)`` of the ads campaigns that have all three set."""
    from aicmo.models.publishing import Campaign

    rows = session.execute(
        select(Campaign.name, Campaign.budget, Campaign.starts_on, Campaign.ends_on).where(
            Campaign.channel == "ads",
            Campaign.budget.is_not(None),
            Campaign.starts_on.is_not(None),
            Campaign.ends_on.is_not(None),
        )
    ).all()
    return [
        (str(n), float(b), s, e) for n, b, s, e in rows if b is not None and s is not None and e is not None
    ]
