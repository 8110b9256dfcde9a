"""Storage of the paid-ads phase: imported spend into the lake's ``ad_spend`` (one file per
month), and the log of budget and bid changes sent to the platforms (``ad_changes``).

An import stages its rows a month at a time (``AdSpendStaging``), then replaces, on each day it
covers, every row of the platforms and accounts it covers, so importing an overlapping date range
twice never counts a day twice; other platforms' and accounts' rows in the same months are kept.
Each month is one atomic file write (a rename for a month new to the lake).
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
from aicmo.models.lake import AD_SPEND, TABLES
from aicmo.storage.lake import Lake, conform, month_of, table_lock

TABLE = "ad_spend"
WRITE_THREADS = 4  # Parquet encoding releases the GIL; a few months at once hide the file I/O
MAX_PENDING_ROWS = 50_000  # rows handed to the background writer and not yet written (bounds memory)
MAX_BUFFERED_ROWS = 100_000  # rows held until their month is complete (a month of 3,000 ad sets)


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


def _covered(cover: Sequence[Coverage]) -> pl.Expr:
    """Rows of a platform and account this import covers, on the days it covers them."""
    expr = pl.lit(False)
    for c in cover:
        expr = expr | (
            (pl.col("platform") == c.platform)
            & (pl.col("account").fill_null("") == c.account)
            & pl.col("date").is_between(c.start, c.end)
        )
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
    """New ``ad_spend`` rows staged on disk one month at a time, then put in the lake in one commit.

    A streamed import hands each chunk's complete days over (``add``); they are held in memory
    per file and month until the file moves past the month (or more than ``MAX_BUFFERED_ROWS``
    are held), then the month is encoded to one staged Parquet file on a background thread
    (encoding releases the GIL) while the caller parses on, at most ``MAX_PENDING_ROWS`` rows
    behind: so memory holds about a month and a chunk, and the encoding overlaps the parsing.
    Nothing reaches the lake before ``commit``: a file that fails half-way (a currency without a
    rate, say) leaves the lake as it was. Rows of one file with the same key that arrive in
    several pieces (a file not sorted by day) are summed, as the reader sums a file's duplicate
    keys; a month the file comes back to after it was staged is read back, added up and staged
    again. Across files the first file's row wins, as the lake's key does. The commit renames a
    month new to the lake into place (local lakes: one rename, no re-encoding) and rewrites a
    month that already has rows, replacing the covered platforms' and accounts' rows on the
    covered days, each month atomically.
    """

    def __init__(self, lake: Lake) -> None:
        import tempfile
        import uuid

        from aicmo.storage.lake import _is_local

        self.lake = lake
        self.spec = TABLES[TABLE]
        self.local = _is_local(lake)
        if self.local:
            self.folder = f"{lake.table_path(TABLE)}/.staging-{uuid.uuid4().hex}"
            os.makedirs(self.folder, exist_ok=True)
        else:
            self.folder = tempfile.mkdtemp(prefix="aicmo-ad-spend-")
        self.buffers: dict[tuple[int, date], list[pl.DataFrame]] = {}
        self.buffered_rows = 0
        self.staged: dict[tuple[int, date], str] = {}
        self.day_rows: dict[tuple[int, date], dict[date, int]] = {}
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
        self.buffers.clear()
        if self.local:
            if self.lake.fs.exists(self.folder):
                self.lake.fs.rm(self.folder, recursive=True)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _wait(self, keep_rows: int = 0) -> None:
        """Wait until at most ``keep_rows`` staged rows are still to be written; a failed write raises."""
        while self._pending and self._pending_rows > keep_rows:
            future, rows = self._pending.popleft()
            self._pending_rows -= rows
            future.result()

    def add(self, file_no: int, rows: pl.DataFrame) -> None:
        """Take the rows (``ad_spend`` schema) of file ``file_no``; the months the file has moved
        past are staged."""
        if rows.schema != self.spec.schema:
            rows = conform(rows, self.spec)
        if rows.height == 0:
            return
        low, high = rows["date"].min(), rows["date"].max()
        assert isinstance(low, date) and isinstance(high, date)
        if month_of(low) == month_of(high):
            parts = {month_of(low): rows}
        else:
            by_month = rows.with_columns(pl.col("date").dt.month_start().alias("__month"))
            parts = {
                month: part
                for (month,), part in by_month.partition_by(
                    "__month", as_dict=True, include_key=False
                ).items()
                if isinstance(month, date)
            }
        for month, part in parts.items():
            self.buffers.setdefault((file_no, month), []).append(part)
            self.buffered_rows += part.height
        if self.buffered_rows > MAX_BUFFERED_ROWS:
            done = list(self.buffers)
        else:  # months this chunk did not reach are complete in a file sorted by day
            done = [k for k in self.buffers if k[0] != file_no or k[1] not in parts]
        for key in done:
            self._stage(key)

    def _stage(self, key: tuple[int, date]) -> None:
        """Hand a buffered month of a file to the background writer."""
        pieces = self.buffers.pop(key)
        self.buffered_rows -= sum(p.height for p in pieces)
        rows = pieces[0] if len(pieces) == 1 else pl.concat(pieces, how="vertical")
        path = self.staged.get(key)
        if path is not None:  # the file came back to a month already staged: add up, stage again
            self._wait()
            rows = pl.concat([pl.read_parquet(path), rows], how="vertical")
        else:
            path = self.staged[key] = f"{self.folder}/{key[0]}-{key[1].isoformat()}.parquet"
        rows = _unique_keys(rows, self.spec.key)
        self.day_rows[key] = dict(rows.group_by("date").len().iter_rows())
        self._wait(MAX_PENDING_ROWS)
        level = self.spec.compression_level
        self._pending.append((self._writer.submit(_write_staged, rows, path, level), rows.height))
        self._pending_rows += rows.height

    def file_rows(self, file_no: int) -> int:
        """Rows file ``file_no`` staged, its repeated keys summed (known once ``commit`` has run)."""
        return sum(sum(days.values()) for (n, _), days in self.day_rows.items() if n == file_no)

    def commit(self, cover: Sequence[Coverage]) -> ReplaceResult:
        """Put every staged month in the lake, replacing the covered platforms' and accounts' rows."""
        for key in list(self.buffers):
            self._stage(key)
        self._wait()
        with table_lock(self.lake, TABLE):
            return self._commit(cover)

    def _commit(self, cover: Sequence[Coverage]) -> ReplaceResult:
        existing = set(self.lake.months(TABLE))
        by_month: dict[date, list[tuple[int, date]]] = {}
        for key in sorted(self.staged):
            by_month.setdefault(key[1], []).append(key)
        covered_days = _days(cover)
        counts: dict[date, int] = {}
        written = replaced = 0
        renamed = set()
        if self.local:  # a new month with one staged file: an atomic rename on the same file system
            for month, keys in by_month.items():
                if month not in existing and len(keys) == 1:
                    target = self.lake.partition_path(TABLE, month)
                    os.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                    os.replace(self.staged[keys[0]], target)
                    counts.update(self.day_rows[keys[0]])
                    written += sum(self.day_rows[keys[0]].values())
                    renamed.add(month)
        empty = pl.DataFrame(schema=AD_SPEND)
        covered = _covered(cover)

        def one_month(month: date) -> tuple[dict[date, int], int, int]:
            keys = by_month.get(month, [])
            new = pl.concat([pl.read_parquet(self.staged[k]) for k in keys]) if keys else empty
            old = self.lake.read_month(TABLE, month) if month in existing else empty
            merged = pl.concat([old.filter(~covered), new], how="vertical")
            merged = merged.unique(subset=list(self.spec.key), keep="first", maintain_order=True)
            merged = merged.sort("date", maintain_order=True)
            self.lake.write_month(TABLE, month, merged)
            per_day = dict(merged.group_by("date").len().iter_rows())
            touched = {d for k in keys for d in self.day_rows[k]}
            touched.update(d for d in covered_days if month_of(d) == month)
            return {d: per_day.get(d, 0) for d in touched}, old.filter(covered).height, new.height

        months = sorted((set(by_month) | ({month_of(d) for d in covered_days} & existing)) - renamed)
        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            for days, gone, new_rows in pool.map(one_month, months):
                counts.update(days)
                replaced += gone
                written += new_rows
        counts.update({day: 0 for day in covered_days if day not in counts})  # covered, nothing left
        return ReplaceResult(rows_written=written, rows_replaced=replaced, days=dict(sorted(counts.items())))


def _write_staged(rows: pl.DataFrame, path: str, level: int | None) -> None:
    """A staged month, encoded as the lake encodes the table (so a new month is renamed into the
    lake as it is)."""
    rows.write_parquet(path, compression="zstd", compression_level=level, statistics=True)
