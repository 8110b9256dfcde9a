"""The Parquet lake: hive-partitioned by day, written atomically, scanned lazily.

A partition is one file, ``<table>/dt=YYYY-MM-DD/part-0.parquet``. Writes go to a temporary
file in the same folder and are renamed over the old file, so a killed run leaves either the old
partition or the new one, never half of either. The root may be a local path or an fsspec URL.

A monthly table (``LakeTable.granularity == "month"``) keeps a calendar month's rows in one file,
``<table>/dt=<the month's first day>/month.parquet``; the methods still speak of days
(``partitions`` lists the days that have rows, ``read_partition``/``write_partition``/
``drop_partition`` act on one day's rows inside its month's file, ``scan``'s ``dt`` is the row's
own day). Lakes written when the table was daily keep working: a day file of a month without a
month file is read as before, and the first write to that month merges its day files into the
month file and then deletes them. The month file's rename is the commit point: from then on the
month's day files are ignored (a run killed before deleting them leaves them unread, and the
next write of the month deletes them), so a crash never loses nor doubles a row.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import polars as pl

from aicmo.models.lake import TABLES, LakeTable
from aicmo.storage.fsroot import FsRoot

PART_FILE = "part-0.parquet"
MONTH_FILE = "month.parquet"
TMP_SUFFIX = ".inprogress"


def month_of(day: date) -> date:
    """The first day of ``day``'s month: the ``dt`` of a monthly table's partition holding it."""
    return day.replace(day=1)


def _month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


class LakeSchemaError(ValueError):
    """A frame does not fit its lake table's schema."""


def _table(name: str | LakeTable) -> LakeTable:
    if isinstance(name, LakeTable):
        return name
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown lake table {name!r}; known: {sorted(TABLES)}") from None


def conform(df: pl.DataFrame, table: LakeTable) -> pl.DataFrame:
    """Cast ``df`` to the table's schema, in its column order; missing nullable columns become null."""
    defaults = [pl.lit(v, table.schema[c]).alias(c) for c, v in table.defaults.items() if c not in df.columns]
    if defaults:
        df = df.with_columns(defaults)
    missing = [c for c in table.schema.names() if c not in df.columns]
    if any(c in table.key or c == table.partition_column for c in missing):
        raise LakeSchemaError(f"{table.name}: missing required column(s) {missing}")
    df = df.with_columns(pl.lit(None).alias(c) for c in missing)
    try:
        return df.select(pl.col(c).cast(t, strict=True) for c, t in table.schema.items())
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise LakeSchemaError(f"{table.name}: {exc}") from exc


class Lake(FsRoot):
    """A Parquet lake rooted at a local path or fsspec URL."""

    # ---- paths -------------------------------------------------------------------------------

    def table_path(self, table: str | LakeTable) -> str:
        """Path of a table's folder."""
        return f"{self._root_path}/{_table(table).name}"

    def partition_key(self, table: str | LakeTable, day: date) -> date:
        """The ``dt`` of the partition holding ``day``: the day, or its month's first day."""
        return month_of(day) if _table(table).granularity == "month" else day

    def partition_path(self, table: str | LakeTable, dt: date) -> str:
        """Path of the partition file holding day ``dt`` (its month's file for a monthly table)."""
        spec = _table(table)
        if spec.granularity == "month":
            return f"{self.table_path(spec)}/dt={month_of(dt).isoformat()}/{MONTH_FILE}"
        return self._day_path(spec, dt)

    def _day_path(self, spec: LakeTable, dt: date) -> str:
        return f"{self.table_path(spec)}/dt={dt.isoformat()}/{PART_FILE}"

    # ---- listing -----------------------------------------------------------------------------
    def _listing(self, spec: LakeTable) -> tuple[set[date], list[date]]:
        """The months that have a month file and the days that have a day file, oldest first."""
        base = self.table_path(spec)
        if not self.fs.exists(base):
            return set(), []
        months: set[date] = set()
        days = []
        for entry in self.fs.ls(base, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if not name.startswith("dt="):
                continue
            dt = date.fromisoformat(name[3:])
            if spec.granularity == "month" and dt.day == 1 and self.fs.exists(f"{entry}/{MONTH_FILE}"):
                months.add(dt)
            if self.fs.exists(f"{entry}/{PART_FILE}"):
                days.append(dt)
        return months, sorted(days)

    def _day_files(self, spec: LakeTable) -> list[date]:
        """A monthly table's day files still read: those of months without a month file."""
        months, days = self._listing(spec)
        return [d for d in days if month_of(d) not in months]

    def months(self, table: str | LakeTable) -> list[date]:
        """A monthly table's months that hold rows (a month file or day files), oldest first."""
        spec = _table(table)
        months, days = self._listing(spec)
        return sorted(months | {month_of(d) for d in days})

    def partitions(self, table: str | LakeTable) -> list[date]:
        """The days that have a partition (for a monthly table: the days that have rows), oldest first."""
        spec = _table(table)
        if spec.granularity == "day":
            return self._listing(spec)[1]
        months, days = self._listing(spec)
        found = {d for d in days if month_of(d) not in months}
        for month in months:
            with self.fs.open(self.partition_path(spec, month), "rb") as fh:
                dates = pl.read_parquet(fh, columns=[spec.partition_column])[spec.partition_column]
            found.update(d for d in dates.unique().to_list() if isinstance(d, date))
        return sorted(found)

    # ---- writing -----------------------------------------------------------------------------
    def _write_atomic(self, df: pl.DataFrame, path: str, spec: LakeTable | None = None) -> None:
        folder = path.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{uuid.uuid4().hex}{TMP_SUFFIX}"
        level = spec.compression_level if spec is not None else None
        try:
            with self.fs.open(tmp, "wb") as fh:
                df.write_parquet(fh, compression="zstd", compression_level=level, statistics=True)
            self.fs.mv(tmp, path)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)

    def write_partition(
        self, table: str | LakeTable, dt: date, df: pl.DataFrame, *, mode: str = "overwrite"
    ) -> int:
        """Write one day's rows; ``overwrite`` replaces the partition, ``merge`` adds to it.

        Rows duplicated on the table's key are dropped (the first one wins; in ``merge`` mode the
        row already in the lake wins). Returns the partition's row count after the write. In a
        monthly table the rows go into their month's file and ``overwrite`` replaces the rows of
        day ``dt`` (and of any other day ``df`` holds); the count is day ``dt``'s.
        """
        spec = _table(table)
        _check_mode(mode)
        if spec.granularity == "month":
            return self._write_days(spec, df, mode, replace=[dt] if mode == "overwrite" else []).get(dt, 0)
        df = conform(df, spec)
        path = self.partition_path(spec, dt)
        if mode == "merge" and self.fs.exists(path):
            df = pl.concat([self.read_partition(spec, dt), df], how="vertical")
        df = df.unique(subset=list(spec.key), keep="first", maintain_order=True)
        self._write_atomic(df, path, spec)
        return df.height

    def write_new_partitions(self, table: str | LakeTable, df: pl.DataFrame) -> dict[date, int]:
        """Write the days of ``df`` as whole new partitions (overwriting any); returns rows per day.

        Same result as ``write_partition(..., mode="overwrite")`` per day (schema checked, rows
        duplicated on the key dropped, the first one kept), but encoded in one partitioned Parquet
        sink into a staging folder, then each day's file renamed into place: a partition is still
        replaced atomically, and a failed write leaves no day half-written. Many small days cost
        one pass instead of one encoder start per file. Lakes that are not local, or tables
        partitioned by a timestamp, take the per-day path; a monthly table writes each month once
        (its days in ``df`` replaced, its other days kept).
        """
        spec = _table(table)
        df = conform(df, spec)
        column = spec.partition_column
        if spec.granularity == "month":
            return self._write_days(spec, df, "overwrite")
        if not _is_local(self) or spec.schema[column] != pl.Date:
            return {
                dt: self.write_partition(spec, dt, part, mode="overwrite")
                for (dt,), part in df.partition_by(column, as_dict=True).items()
                if isinstance(dt, date)
            }
        key = list(dict.fromkeys([column, *spec.key]))
        if df.select(pl.struct(key).n_unique()).item() < df.height:  # copy only when a key repeats
            df = df.unique(subset=key, keep="first", maintain_order=True)
        counts = dict(df.group_by(column).len().iter_rows())
        staging = f"{self.table_path(spec)}/.staging-{uuid.uuid4().hex}"
        try:
            df.lazy().sink_parquet(
                pl.PartitionBy(
                    staging,
                    key=column,
                    include_key=True,
                    file_path_provider=lambda args: f"{args.partition_keys[column][0]}.parquet",
                ),
                compression="zstd",
                compression_level=spec.compression_level,
                statistics=True,
                mkdir=True,
            )
            for dt in counts:
                path = self.partition_path(spec, dt)
                self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                self.fs.mv(f"{staging}/{dt.isoformat()}.parquet", path)
        finally:
            if self.fs.exists(staging):
                self.fs.rm(staging, recursive=True)
        return counts

    def write(
        self,
        table: str | LakeTable,
        df: pl.DataFrame,
        *,
        mode: str = "merge",
        on_partition: Callable[[date, int], None] | None = None,
    ) -> dict[date, int]:
        """Split ``df`` by day and write each day's partition; returns rows per day written."""
        spec = _table(table)
        _check_mode(mode)
        df = conform(df, spec)
        written: dict[date, int] = {}
        if spec.granularity == "month":
            written = self._write_days(spec, df, mode)
            for dt, n in written.items():
                if on_partition is not None:
                    on_partition(dt, n)
            return written
        day = pl.col(spec.partition_column)
        if spec.schema[spec.partition_column] != pl.Date:
            day = day.dt.date()
        for (dt,), part in (
            df.with_columns(day.alias("__dt")).partition_by("__dt", as_dict=True, include_key=False).items()
        ):
            assert isinstance(dt, date)
            written[dt] = self.write_partition(spec, dt, part, mode=mode)
            if on_partition is not None:
                on_partition(dt, written[dt])
        return written

    def read_partition(self, table: str | LakeTable, dt: date) -> pl.DataFrame:
        """One day's rows, eagerly."""
        spec = _table(table)
        if spec.granularity == "month":
            return self.read_month(spec, dt).filter(pl.col(spec.partition_column) == dt)
        with self.fs.open(self.partition_path(spec, dt), "rb") as fh:
            return conform(pl.read_parquet(fh), spec)

    def rewrite_partitions(
        self,
        table: str | LakeTable,
        transform: Callable[[pl.DataFrame], pl.DataFrame],
        days: Iterable[date] | None = None,
    ) -> dict[date, tuple[int, int]]:
        """Apply ``transform`` to each partition and write it back atomically where it changed.

        Returns ``{day: (rows_before, rows_after)}`` for the partitions that changed. In a monthly
        table ``transform`` gets the rows of the chosen days of one month at a time (the month's
        other days are kept as they are), and every chosen day of a changed month is listed.
        """
        spec = _table(table)
        changed: dict[date, tuple[int, int]] = {}
        if spec.granularity == "month":
            wanted = sorted(days) if days is not None else self.partitions(spec)
            column = spec.partition_column
            for month in sorted({month_of(d) for d in wanted}):
                chosen = [d for d in wanted if month_of(d) == month]
                frame = self.read_month(spec, month)
                picked = pl.col(column).is_in(chosen)
                before = frame.filter(picked)
                after = conform(transform(before), spec)
                if after.height != before.height or not after.equals(before):
                    self.write_month(spec, month, pl.concat([frame.filter(~picked), after]))
                    rows_before = dict(before.group_by(column).len().iter_rows())
                    rows_after = dict(after.group_by(column).len().iter_rows())
                    changed.update({d: (rows_before.get(d, 0), rows_after.get(d, 0)) for d in chosen})
            return changed
        for dt in days if days is not None else self.partitions(spec):
            before = self.read_partition(spec, dt)
            after = conform(transform(before), spec)
            if after.height != before.height or not after.equals(before):
                self._write_atomic(after, self.partition_path(spec, dt), spec)
                changed[dt] = (before.height, after.height)
        return changed

    def drop_partition(self, table: str | LakeTable, dt: date) -> None:
        """Remove one day's partition (in a monthly table: the day's rows from its month's file)."""
        spec = _table(table)
        if spec.granularity == "month":
            self.drop_days(spec, [dt])
            return
        folder = self.partition_path(spec, dt).rsplit("/", 1)[0]
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def drop_days(self, table: str | LakeTable, days: Iterable[date]) -> None:
        """Remove the rows of ``days``: their partitions, or, in a monthly table, their rows from
        their months' files (a month is rewritten once, and removed when nothing is left)."""
        spec = _table(table)
        wanted = sorted(set(days))
        if spec.granularity == "day":
            for dt in wanted:
                self.drop_partition(spec, dt)
            return
        column = spec.partition_column
        for month in sorted({month_of(d) for d in wanted}):
            frame = self.read_month(spec, month)
            kept = frame.filter(~pl.col(column).is_in([d for d in wanted if month_of(d) == month]))
            if kept.height < frame.height:
                self.write_month(spec, month, kept)

    # ---- monthly tables ----------------------------------------------------------------------
    def read_month(self, table: str | LakeTable, month: date) -> pl.DataFrame:
        """A monthly table's rows of ``month`` (any day of it): its month file, else its day files."""
        spec = _table(table)
        months, days = self._listing(spec)
        return self._read_month(spec, month_of(month), months, days)

    def _read_month(self, spec: LakeTable, month: date, months: set[date], days: list[date]) -> pl.DataFrame:
        if month in months:
            paths = [self.partition_path(spec, month)]
        else:
            paths = [self._day_path(spec, d) for d in days if month_of(d) == month]
        frames = []
        for path in paths:
            with self.fs.open(path, "rb") as fh:
                frames.append(conform(pl.read_parquet(fh), spec))
        return pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=spec.schema)

    def write_month(self, table: str | LakeTable, month: date, df: pl.DataFrame) -> None:
        """Replace a monthly table's ``month`` (any day of it) with ``df``, rows of that month.

        The month file is written atomically (the commit point), then the month's day files left
        from the daily layout are deleted; an empty ``df`` removes the month (an empty month file
        stands for it while its day files are deleted, so none of them is read again).
        """
        spec = _table(table)
        month = month_of(month)
        df = conform(df, spec)
        stale = [d for d in self._listing(spec)[1] if month_of(d) == month]
        path = self.partition_path(spec, month)
        if df.height or stale:
            self._write_atomic(df, path, spec)
        for dt in stale:
            self._remove(self._day_path(spec, dt))
        if df.height == 0:
            self._remove(path)

    def _remove(self, path: str) -> None:
        """Delete a partition file, and its folder once nothing else is in it."""
        if self.fs.exists(path):
            self.fs.rm(path)
        folder = path.rsplit("/", 1)[0]
        if self.fs.exists(folder) and not self.fs.ls(folder, detail=False):
            self.fs.rm(folder, recursive=True)

    def _write_days(
        self, spec: LakeTable, df: pl.DataFrame, mode: str, replace: Iterable[date] = ()
    ) -> dict[date, int]:
        """A monthly table's write: ``df``'s rows into their months, each month written once.

        ``overwrite`` replaces the rows of every day ``df`` holds (and of the days in
        ``replace``); ``merge`` adds them, a row already in the lake winning on its key. Returns
        the row count after the write of each of those days.
        """
        df = conform(df, spec)
        column = spec.partition_column
        days = {d for d in df[column].unique().to_list() if isinstance(d, date)} | set(replace)
        key = list(spec.key)
        counts: dict[date, int] = {}
        months, listed = self._listing(spec)
        for month in sorted({month_of(d) for d in days}):
            mine = [d for d in days if month_of(d) == month]
            new = df.filter(pl.col(column).is_between(month, _month_end(month)))
            old = self._read_month(spec, month, months, listed)
            if mode == "overwrite":
                merged = pl.concat([new, old.filter(~pl.col(column).is_in(mine))], how="vertical")
            else:
                merged = pl.concat([old, new], how="vertical")
            merged = merged.unique(subset=key, keep="first", maintain_order=True).sort(
                column, maintain_order=True
            )
            self.write_month(spec, month, merged)
            per_day = dict(merged.group_by(column).len().iter_rows())
            counts.update({d: per_day.get(d, 0) for d in sorted(mine)})
        return dict(sorted(counts.items()))

    # ---- reading -----------------------------------------------------------------------------
    def partition_files(
        self, table: str | LakeTable, start: date | None = None, end: date | None = None
    ) -> list[str]:
        """URLs of the partition files between ``start`` and ``end`` inclusive (for a monthly
        table, the files of the months that overlap them)."""
        spec = _table(table)

        def within(first: date, last: date) -> bool:
            return (start is None or last >= start) and (end is None or first <= end)

        if spec.granularity == "month":
            months, days = self._listing(spec)
            files = [(m, self.partition_path(spec, m)) for m in months if within(m, _month_end(m))]
            files += [
                (d, self._day_path(spec, d)) for d in days if month_of(d) not in months and within(d, d)
            ]
            return [self._url(path) for _, path in sorted(files)]
        return [self._url(self.partition_path(spec, dt)) for dt in self.partitions(spec) if within(dt, dt)]

    def scan(
        self,
        table: str | LakeTable,
        start: date | None = None,
        end: date | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> pl.LazyFrame:
        """A LazyFrame over the days in ``[start, end]``, with a ``dt`` column; only those files are read.

        ``dt`` is the row's day: its partition's, or, in a monthly table, the row's own
        ``partition_column`` (the rows outside ``[start, end]`` of the months read are left out).
        """
        spec = _table(table)
        files = self.partition_files(spec, start, end)
        if not files:
            return pl.LazyFrame(schema={**spec.schema, "dt": pl.Date})
        if spec.granularity == "month":
            day = pl.col(spec.partition_column)
            frame = pl.scan_parquet(
                files,
                schema=spec.schema,
                hive_partitioning=False,
                missing_columns="insert",
                storage_options=storage_options,
            )
            if start is not None:
                frame = frame.filter(day >= start)
            if end is not None:
                frame = frame.filter(day <= end)
            return frame.with_columns(day.alias("dt"))
        return pl.scan_parquet(
            files,
            schema=spec.schema,
            hive_partitioning=True,
            hive_schema=pl.Schema({"dt": pl.Date}),
            missing_columns="insert",  # files written before a nullable column was added
            storage_options=storage_options,
        )

    def iter_partitions(
        self, table: str | LakeTable, start: date | None = None, end: date | None = None
    ) -> Iterator[tuple[date, pl.DataFrame]]:
        """Each day's rows in order, one partition (a monthly table's month) in memory at a time."""
        spec = _table(table)
        days = [
            dt
            for dt in self.partitions(spec)
            if (start is None or dt >= start) and (end is None or dt <= end)
        ]
        if spec.granularity == "day":
            for dt in days:
                yield dt, self.read_partition(spec, dt)
            return
        for month in sorted({month_of(d) for d in days}):
            frame = self.read_month(spec, month)
            for dt in (d for d in days if month_of(d) == month):
                yield dt, frame.filter(pl.col(spec.partition_column) == dt)


def _check_mode(mode: str) -> None:
    if mode not in ("overwrite", "merge"):
        raise ValueError(f"mode must be 'overwrite' or 'merge', not {mode!r}")


@contextmanager
def table_lock(lake: Lake, table: str | LakeTable) -> Iterator[None]:
    """Serialize read-modify-write of a table's partitions between processes (local lakes).

    Several writers that merge into the same day partition (tracking instances, an import) would
    otherwise lose each other's rows. On a local root this is an exclusive ``flock`` on
    ``<table>/.lock``; object stores have no such lock, so there one writer per table is the rule.
    """
    if not _is_local(lake):
        yield
        return
    folder = lake.table_path(table)
    lake.fs.makedirs(folder, exist_ok=True)
    with open(f"{folder}/.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _is_local(lake: Lake) -> bool:
    protocol = lake.fs.protocol if isinstance(lake.fs.protocol, str) else lake.fs.protocol[0]
    return protocol in ("file", "local")
