"""Storage of the paid-ads phase: imported spend into the lake's ``ad_spend`` day partitions, and
the log of budget and bid changes sent to the platforms (``ad_changes``).

An import stages its rows a day at a time (``AdSpendStaging``), then replaces, day by day, every
row of the platforms and accounts it covers, so importing an overlapping date range twice never
counts a day twice; other platforms' and accounts' rows in the same partitions are kept. Each day
is one atomic partition write (a rename for a new day).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicmo.models.ads import AdChange
from aicmo.models.lake import AD_SPEND
from aicmo.storage.lake import PART_FILE, Lake

TABLE = "ad_spend"
WRITE_THREADS = 4  # Parquet encoding releases the GIL; a few partitions at once hide the file I/O
MAX_PENDING_ROWS = 50_000  # rows handed to the background writer and not yet written (bounds memory)


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


# ---- streamed imports: each day's new rows staged as it completes, the lake replaced at the end -----
SUM_COLUMNS = (
    "impressions",
    "clicks",
    "spend",
    "conversions",
    "conversion_value",
    "spend_local",
    "conversion_value_local",
)
STAGE_KEY = ("date", "platform", "account", "campaign", "ad_set", "ad", "currency")


def _unique_keys(rows: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """Rows with repeated keys summed (keys with the currency, as the reader sums a file's
    duplicates), then one row per lake key (the first), as the lake keeps it.

    Distinct hashes of the lake key mean no key repeats (the staging key adds the currency), so
    the usual case costs one hash pass; a collision only sends the rows down the exact path."""
    if rows.select(pl.struct(list(key)).hash().n_unique()).item() == rows.height:
        return rows
    if rows.select(pl.struct(STAGE_KEY).n_unique()).item() < rows.height:
        rows = rows.group_by(STAGE_KEY, maintain_order=True).agg(
            pl.col("campaign_id").first(), *(pl.col(c).sum() for c in SUM_COLUMNS)
        )
        rows = rows.select(AD_SPEND.names()).cast(AD_SPEND)
    if rows.select(pl.struct(list(key)).n_unique()).item() < rows.height:
        rows = rows.unique(subset=list(key), keep="first", maintain_order=True)
    return rows


class AdSpendStaging:
    """New ``ad_spend`` rows staged on disk one day at a time, then put in the lake in one commit.

    A streamed import hands each day's rows over as soon as the day is complete (``add``), so only
    the day being read is in memory. The days are encoded on a background thread (one partitioned
    sink per chunk; Parquet encoding releases the GIL) while the caller reads on, at most
    ``MAX_PENDING_ROWS`` rows behind, so the encoding overlaps the parsing and memory stays
    bounded. Nothing reaches the lake before ``commit``: a file that fails half-way (a currency
    without a rate, say) leaves the lake as it was. Rows of one file for one day that arrive in
    several pieces (a file not sorted by day) are summed per key, as the reader sums a file's
    duplicate keys; across files the first file's row wins, as the lake's key does. The commit
    renames a new day's staged ``dt=`` folder into place (local lakes) or rewrites a day that
    already has a partition, replacing the covered platforms' and accounts' rows, each atomically.
    """

    def __init__(self, lake: Lake) -> None:
        import tempfile
        import uuid

        from aicmo.storage.lake import _is_local

        self.lake = lake
        self.local = _is_local(lake)
        if self.local:
            self.folder = f"{lake.table_path(TABLE)}/.staging-{uuid.uuid4().hex}"
            os.makedirs(self.folder, exist_ok=True)
        else:
            self.folder = tempfile.mkdtemp(prefix="aicmo-ad-spend-")
        self.staged: dict[tuple[int, date], str] = {}
        self.counts: dict[tuple[int, date], int] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ad-spend-stage")
        self._pending: deque[tuple[Future[None], int]] = deque()
        self._pending_rows = 0

    def __enter__(self) -> AdSpendStaging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the writer and remove what is left of the staging folder."""
        import shutil

        for future, _ in self._pending:
            future.cancel()
        self._writer.shutdown(wait=True)
        self._pending.clear()
        if self.local:
            if self.lake.fs.exists(self.folder):
                self.lake.fs.rm(self.folder, recursive=True)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _path(self, file_no: int, day: date) -> str:
        """A staged day's file, laid out as the lake's partition (its folder is renamed into place)."""
        return f"{self.folder}/{file_no}/dt={day.isoformat()}/{PART_FILE}"

    def _wait(self, keep_rows: int = 0) -> None:
        """Wait until at most ``keep_rows`` staged rows are still to be written; a failed write raises."""
        while self._pending and self._pending_rows > keep_rows:
            future, rows = self._pending.popleft()
            self._pending_rows -= rows
            future.result()

    def add(self, file_no: int, rows: pl.DataFrame) -> None:
        """Stage the rows (``ad_spend`` schema) of file ``file_no``, one Parquet file per day.

        Days new to the file are handed to the background writer (one partitioned sink for the
        chunk); a day the file comes back to is read, added up and rewritten once its first file
        is written.
        """
        from aicmo.models.lake import TABLES
        from aicmo.storage.lake import conform

        spec = TABLES[TABLE]
        rows = _unique_keys(conform(rows, spec), spec.key)
        again = [d for d in rows["date"].unique().to_list() if (file_no, d) in self.staged]
        if again:
            self._wait()
            for day in again:
                path = self.staged[(file_no, day)]
                merged = pl.concat([pl.read_parquet(path), rows.filter(pl.col("date") == day)])
                merged = _unique_keys(conform(merged, spec), spec.key)
                merged.write_parquet(path, compression="zstd", statistics=True)
                self.counts[(file_no, day)] = merged.height
            rows = rows.filter(~pl.col("date").is_in(again))
        if rows.height == 0:
            return
        for day, n in rows.group_by("date").len().iter_rows():
            self.staged[(file_no, day)] = self._path(file_no, day)
            self.counts[(file_no, day)] = n
        self._wait(MAX_PENDING_ROWS)
        self._pending.append((self._writer.submit(_sink_staged, rows, self.folder, file_no), rows.height))
        self._pending_rows += rows.height

    def commit(self, cover: Sequence[Coverage]) -> ReplaceResult:
        """Put every staged day in the lake, replacing the covered platforms' and accounts' rows."""
        self._wait()
        existing = set(self.lake.partitions(TABLE))
        by_day: dict[date, list[str]] = {}
        sizes: dict[date, int] = {}
        for (file_no, day), path in sorted(self.staged.items()):
            by_day.setdefault(day, []).append(path)
            sizes[day] = sizes.get(day, 0) + self.counts[(file_no, day)]
        empty = pl.DataFrame(schema=AD_SPEND)
        renamed: dict[date, int] = {}
        if self.local:  # a new day with one staged file: an atomic rename on the same file system
            for day, paths in by_day.items():
                if day not in existing and len(paths) == 1:
                    _move_in(paths[0], self.lake.partition_path(TABLE, day))
                    renamed[day] = sizes[day]

        def one_day(day: date) -> tuple[date, int, int, int]:
            paths = by_day.get(day, [])
            new = pl.concat([pl.read_parquet(p) for p in paths]) if paths else empty
            kept, replaced = empty, 0
            if day in existing:
                old = self.lake.read_partition(TABLE, day)
                replaced = old.filter(_covered(cover, day)).height
                kept = old.filter(~_covered(cover, day))
            merged = pl.concat([kept, new], how="vertical")
            if merged.height == 0:
                if day in existing:
                    self.lake.drop_partition(TABLE, day)
                return day, 0, replaced, new.height
            return day, self.lake.write_partition(TABLE, day, merged), replaced, new.height

        days = sorted((set(by_day) | (set(_days(cover)) & existing)) - set(renamed))
        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            results = [(day, n, 0, n) for day, n in renamed.items()] + list(pool.map(one_day, days))
        counts = {day: n for day, n, _, _ in results}
        counts.update({day: 0 for day in _days(cover) if day not in counts})  # covered, nothing left
        written = sum(w for _, _, _, w in results)
        return ReplaceResult(
            rows_written=written,
            rows_replaced=sum(r for _, _, r, _ in results),
            days=dict(sorted(counts.items())),
        )


def _sink_staged(rows: pl.DataFrame, folder: str, file_no: int) -> None:
    """A chunk's days staged in one partitioned sink (one pass, the days encoded in parallel),
    each day as ``<file_no>/dt=<day>/part-0.parquet``, encoded as the lake encodes its partitions
    (so a new day's folder is renamed into the lake as it is)."""
    rows.lazy().sink_parquet(
        pl.PartitionBy(
            folder,
            key="date",
            include_key=True,
            file_path_provider=lambda args: f"{file_no}/dt={args.partition_keys['date'][0]}/{PART_FILE}",
        ),
        compression="zstd",
        statistics=True,
        mkdir=True,
    )


def _move_in(staged: str, target: str) -> None:
    """Rename a staged day into the lake: its whole ``dt=`` folder when the lake has none (one
    rename, the folder made while staging), else the file into the existing folder."""
    try:
        os.rename(staged.rsplit("/", 1)[0], target.rsplit("/", 1)[0])
    except OSError:  # the partition's folder exists (not empty): move the file alone
        os.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        os.replace(staged, target)
