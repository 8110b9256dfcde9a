"""The Parquet lake: hive-partitioned by day, written atomically, scanned lazily.

A partition is one file, ``<table>/dt=YYYY-MM-DD/part-0.parquet``. Writes go to a temporary
file in the same folder and are renamed over the old file, so a killed run leaves either the old
partition or the new one, never half of either. The root may be a local path or an fsspec URL.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import polars as pl

from aicmo.models.lake import TABLES, LakeTable
from aicmo.storage.fsroot import FsRoot

PART_FILE = "part-0.parquet"
TMP_SUFFIX = ".inprogress"


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

    def partition_path(self, table: str | LakeTable, dt: date) -> str:
        """Path of one day's partition file."""
        return f"{self.table_path(table)}/dt={dt.isoformat()}/{PART_FILE}"

    # ---- listing -----------------------------------------------------------------------------
    def partitions(self, table: str | LakeTable) -> list[date]:
        """The days that have a partition, oldest first."""
        base = self.table_path(table)
        if not self.fs.exists(base):
            return []
        days = []
        for entry in self.fs.ls(base, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith("dt=") and self.fs.exists(f"{entry}/{PART_FILE}"):
                days.append(date.fromisoformat(name[3:]))
        return sorted(days)

    # ---- writing -----------------------------------------------------------------------------
    def _write_atomic(self, df: pl.DataFrame, path: str) -> None:
        folder = path.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{uuid.uuid4().hex}{TMP_SUFFIX}"
        try:
            with self.fs.open(tmp, "wb") as fh:
                df.write_parquet(fh, compression="zstd", statistics=True)
            self.fs.mv(tmp, path)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)

    def write_partition(
        self, table: str | LakeTable, dt: date, df: pl.DataFrame, *, mode: str = "overwrite"
    ) -> int:
        """Write one day's rows; ``overwrite`` replaces the partition, ``merge`` adds to it.

        Rows duplicated on the table's key are dropped (the first one wins; in ``merge`` mode the
        row already in the lake wins). Returns the partition's row count after the write.
        """
        spec = _table(table)
        if mode not in ("overwrite", "merge"):
            raise ValueError(f"mode must be 'overwrite' or 'merge', not {mode!r}")
        df = conform(df, spec)
        path = self.partition_path(spec, dt)
        if mode == "merge" and self.fs.exists(path):
            df = pl.concat([self.read_partition(spec, dt), df], how="vertical")
        df = df.unique(subset=list(spec.key), keep="first", maintain_order=True)
        self._write_atomic(df, path)
        return df.height

    def write_new_partitions(self, table: str | LakeTable, df: pl.DataFrame) -> dict[date, int]:
        """Write the days of ``df`` as whole new partitions (overwriting any); returns rows per day.

        Same result as ``write_partition(..., mode="overwrite")`` per day (schema checked, rows
        duplicated on the key dropped, the first one kept), but encoded in one partitioned Parquet
        sink into a staging folder, then each day's file renamed into place: a partition is still
        replaced atomically, and a failed write leaves no day half-written. Many small days cost
        one pass instead of one encoder start per file. Lakes that are not local, or tables
        partitioned by a timestamp, take the per-day path.
        """
        spec = _table(table)
        df = conform(df, spec)
        column = spec.partition_column
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
        df = conform(df, spec)
        day = pl.col(spec.partition_column)
        if spec.schema[spec.partition_column] != pl.Date:
            day = day.dt.date()
        written: dict[date, int] = {}
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
        with self.fs.open(self.partition_path(spec, dt), "rb") as fh:
            return conform(pl.read_parquet(fh), spec)

    def rewrite_partitions(
        self,
        table: str | LakeTable,
        transform: Callable[[pl.DataFrame], pl.DataFrame],
        days: Iterable[date] | None = None,
    ) -> dict[date, tuple[int, int]]:
        """Apply ``transform`` to each partition and write it back atomically where it changed.

        Returns ``{day: (rows_before, rows_after)}`` for the partitions that changed.
        """
        spec = _table(table)
        changed: dict[date, tuple[int, int]] = {}
        for dt in days if days is not None else self.partitions(spec):
            before = self.read_partition(spec, dt)
            after = conform(transform(before), spec)
            if after.height != before.height or not after.equals(before):
                self._write_atomic(after, self.partition_path(spec, dt))
                changed[dt] = (before.height, after.height)
        return changed

    def drop_partition(self, table: str | LakeTable, dt: date) -> None:
        """Remove one day's partition."""
        folder = self.partition_path(table, dt).rsplit("/", 1)[0]
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    # ---- reading -----------------------------------------------------------------------------
    def partition_files(
        self, table: str | LakeTable, start: date | None = None, end: date | None = None
    ) -> list[str]:
        """URLs of the partition files between ``start`` and ``end`` inclusive."""
        spec = _table(table)
        return [
            self._url(self.partition_path(spec, dt))
            for dt in self.partitions(spec)
            if (start is None or dt >= start) and (end is None or dt <= end)
        ]

    def scan(
        self,
        table: str | LakeTable,
        start: date | None = None,
        end: date | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> pl.LazyFrame:
        """A LazyFrame over the days in ``[start, end]``, with a ``dt`` column; only those files are read."""
        spec = _table(table)
        files = self.partition_files(spec, start, end)
        if not files:
            return pl.LazyFrame(schema={**spec.schema, "dt": pl.Date})
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
        """Each day's rows in order, one partition in memory at a time."""
        for dt in self.partitions(table):
            if (start is None or dt >= start) and (end is None or dt <= end):
                yield dt, self.read_partition(table, dt)


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
