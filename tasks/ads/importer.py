"""Import ad-platform report files into the lake's ``ad_spend``: read, convert, replace.

Each file is streamed in pieces of whole records; each piece's amounts are converted to the
reporting currency (a file in another currency needs a rates table, else the import stops naming
the currency) and every day it completes is staged on disk, so memory holds about one piece
whatever the file's size. Only when all files of the import are read does the lake change: per
platform and account, the days the files cover are replaced, so reimporting an overlapping range
never counts a day twice, two files of one account imported together (say, one per campaign)
both stay, and a failure anywhere writes nothing.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.models.lake import AD_SPEND
from aicmo.progress import Advance, no_progress
from aicmo.storage.ads import AdSpendStaging, Coverage
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.tasks.ads.report_reader import (
    MAX_REJECTS_SHOWN,
    ParsedReport,
    has_header,
    read_report,
    utf8_chunks,
)
from aicmo.tasks.analytics.rates import RatesSource, to_reporting

ADS_RATES_HINT = "pass --rates FILE, set AICMO_RATES_FILE (CSV: date,currency,rate) or AICMO_RATES_URL"


@dataclass
class ImportReport:
    """What an import read, wrote and refused."""

    files: list[dict[str, Any]] = field(default_factory=list)  # path, format, rows, start, end
    rows_written: int = 0
    rows_replaced: int = 0
    days_written: int = 0
    spend: float = 0.0
    reporting_currency: str = "USD"
    currencies: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    rejected_rows: int = 0

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (flow results, run log)."""
        return {
            "files": len(self.files),
            "rows_written": self.rows_written,
            "rows_replaced": self.rows_replaced,
            "days_written": self.days_written,
            "spend": round(self.spend, 2),
            "reporting_currency": self.reporting_currency,
            "currencies": self.currencies,
            "warnings": len(self.warnings),
            "rejected_rows": self.rejected_rows,
        }


def to_lake_rows(
    rows: pl.DataFrame, rates: RatesSource, reporting_currency: str, *, hint: str = ADS_RATES_HINT
) -> pl.DataFrame:
    """Normalized report rows in the ``ad_spend`` schema, money converted to ``reporting_currency``.

    ``rates`` is a rates table, or a fetcher called with the foreign currencies and the rows'
    first and last day (rates through the gateway), or None when every row is in the reporting
    currency; ``hint`` says what to fix when a currency has no rate.
    """
    reporting = reporting_currency.upper()
    if all(c is None or c == reporting for c in rows.get_column("currency").unique().to_list()):
        # Every amount is in the reporting currency already: one pass, no rates asked for.
        source = {"spend_local": "spend", "conversion_value_local": "conversion_value"}
        return rows.select(
            pl.lit(None, t).alias(c) if c == "campaign_id" else pl.col(source.get(c, c)).cast(t).alias(c)
            for c, t in AD_SPEND.items()
        )
    frame = rows.rename({"spend": "spend_local", "conversion_value": "conversion_value_local"})
    frame = to_reporting(
        frame,
        {"spend_local": "spend", "conversion_value_local": "conversion_value"},
        "currency",
        "date",
        rates,
        reporting_currency,
        hint=hint,
    )
    return frame.with_columns(pl.lit(None, pl.Int64).alias("campaign_id")).select(
        pl.col(c).cast(t) for c, t in AD_SPEND.items()
    )


CHUNK_BYTES = 384 * 1024
"""The least UTF-8 bytes of a report read at a time: whole records, parsed, converted and staged
per month. Peak memory grows with the chunk (a year of 1,000 ad sets, generic CSV of 25.5 MB:
about 41 MB of growth at 384 KB, 45 MB at 512 KB, 78 MB at 1 MB; most of it memory the
allocator keeps for reuse), and each chunk costs a fixed amount of work, so larger files are read
in larger chunks (``chunk_size``)."""
MAX_CHUNK_BYTES = 4 * 1024 * 1024
"""The most bytes read at a time, so memory stays bounded whatever the file's size (about 150 MB
of growth at 4 MB)."""
FILE_PER_CHUNK = 64
"""A UTF-8 file is read in about this many chunks (within the bounds above): the chunk's memory
stays under the 2x-the-file target (about 1.6-1.8x for generic CSVs, where a byte costs the most). A
UTF-16 file is read in half as many: its chunks are counted in UTF-8 bytes, half its own."""


def chunk_size(path: Path) -> int:
    """UTF-8 bytes read at a time from ``path``: 1/``FILE_PER_CHUNK`` of the file (2/ for UTF-16),
    within the bounds."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(2)
    except OSError:
        return CHUNK_BYTES  # reading it says why
    utf16 = head in (b"\xff\xfe", b"\xfe\xff") or (len(head) == 2 and head[1] == 0 and head[0] != 0)
    return max(CHUNK_BYTES, min(MAX_CHUNK_BYTES, size // (FILE_PER_CHUNK // 2 if utf16 else FILE_PER_CHUNK)))


def _remembered(rates: RatesSource) -> RatesSource:
    """A fetcher that asks its source again only for currencies or days it was not asked for yet
    (a streamed file asks once per chunk)."""
    if not callable(rates):
        return rates
    fetch = rates
    asked: list[tuple[set[str], date, date]] = []
    tables: list[pl.DataFrame] = []

    def remembered(currencies: list[str], start: date, end: date) -> pl.DataFrame | None:
        if not any(set(currencies) <= c and s <= start and end <= e for c, s, e in asked):
            table = fetch(currencies, start, end)
            if table is None:
                return None
            asked.append((set(currencies), start, end))
            tables.append(table)
        return pl.concat(tables).unique(["date", "currency"], keep="last").sort("currency", "date")

    return remembered


@dataclass
class _FileState:
    """What one streamed file has shown so far."""

    file_no: int
    parsed: ParsedReport | None = None  # the first chunk's (format, date format, declared range)
    rows: int = 0
    first_day: date | None = None
    last_day: date | None = None
    pairs: set[tuple[str, str]] = field(default_factory=set)
    held: pl.DataFrame | None = None  # rows of the day the last chunk ended in (it may go on)

    def seen(self, rows: pl.DataFrame) -> None:
        if rows.height == 0:
            return
        self.rows += rows.height
        low, high = rows["date"].min(), rows["date"].max()
        assert isinstance(low, date) and isinstance(high, date)
        self.first_day = low if self.first_day is None else min(self.first_day, low)
        self.last_day = high if self.last_day is None else max(self.last_day, high)
        self.pairs.update(
            (str(p), str(a)) for p, a in rows.select("platform", "account").unique().iter_rows()
        )

    def coverage(self) -> list[Coverage]:
        """The file's platforms and accounts over its date-range line, else over its first to last day."""
        parsed = self.parsed
        start, end = self.first_day, self.last_day
        if parsed is not None and parsed.declared_range:
            start, end = parsed.start, parsed.end
        if start is None or end is None:
            return []
        return [Coverage(p, a, start, end) for p, a in sorted(self.pairs)]


def _chunks(
    path: Path, chunk_bytes: int, on_read: Advance = no_progress, **options: Any
) -> Iterator[ParsedReport]:
    """A report read chunk by chunk: the first chunk (at least up to the header and a dated
    record) decides the format and the date style, and a file whose first chunk reads
    month-first and day-first alike is read whole, so every date decides; later chunks are the
    header line plus a run of records."""
    pieces = utf8_chunks(path, chunk_bytes, on_read)
    first = b""
    for piece in pieces:  # the first chunk reaches at least past the header
        first += piece
        if has_header(first, path):
            break
    second = next(pieces, None)
    parsed = read_report(path, data=first, utf8=True, **options)
    while second is not None and parsed.date_format is None:  # no dated record yet: read on
        first += second
        second = next(pieces, None)
        parsed = read_report(path, data=first, utf8=True, **options)
    if second is not None and parsed.date_guessed:
        whole = b"".join([first, second, *pieces])
        yield read_report(path, data=whole, utf8=True, **options)
        return
    yield parsed
    if second is None:
        return
    header = first.split(b"\n", parsed.header_index + 1)[parsed.header_index] + b"\n"
    line = parsed.header_index + 2 + parsed.records
    for piece in itertools.chain([second], pieces):
        chunk = read_report(
            path,
            data=header + piece,
            date_format=parsed.date_format,
            first_line=line,
            float_columns=parsed.float_columns,
            decorations=parsed.decorations,
            date_columns=parsed.date_columns,
            null_values=parsed.null_values,
            utf8=True,
            **options,
        )
        line += chunk.records
        yield chunk


def _split_last_day(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of days other than the last row's, and those of the last row's day (it may go on
    in the next chunk). In a file sorted by day the last day's rows end the chunk: two slices,
    no copy; otherwise two filters."""
    last = rows.get_column("date") == rows["date"][-1]
    n = int(last.sum())
    if last.slice(rows.height - n).all():
        return rows.slice(0, rows.height - n), rows.slice(rows.height - n)
    return rows.filter(~last), rows.filter(last)


def import_reports(
    paths: list[Path],
    lake: Lake,
    *,
    engine: Engine | None = None,
    rates: RatesSource = None,
    reporting_currency: str = "USD",
    currency: str | None = None,
    account: str | None = None,
    day_first: bool = False,
    rates_hint: str = ADS_RATES_HINT,
    chunk_bytes: int | None = None,
    progress: Advance = no_progress,
) -> ImportReport:
    """Import report files into ``ad_spend``; with ``engine``, note the days written for the KPIs.

    Each file is streamed ``chunk_bytes`` at a time (by default ``chunk_size``: larger for
    larger files, within bounds): a chunk's records are parsed, converted to the
    reporting currency and staged per day as soon as the day is complete, so memory holds about
    one chunk, whatever the file's size. The lake changes only once every file is read: then, per
    platform and account, the days the files cover are replaced. Raises ``InputError`` (nothing
    written) when a file is unreadable, not a known format, lacks a required column, or has
    amounts in a currency without a rate; rows with a bad value are left out and listed in
    ``rejected``. ``progress`` is advanced by the bytes of the files as they are read (a bar
    whose total is ``total_bytes(paths)``).
    """
    if not paths:
        raise InputError("no report files given")
    report = ImportReport(reporting_currency=reporting_currency.upper())
    source = _remembered(rates)
    currencies: set[str] = set()
    options: dict[str, Any] = {"currency": currency, "account": account, "day_first": day_first}
    cover: list[Coverage] = []
    with AdSpendStaging(lake) as staging:

        def stage(state: _FileState, rows: pl.DataFrame) -> None:
            if rows.height == 0:
                return
            lake_rows = to_lake_rows(rows, source, reporting_currency, hint=rates_hint)
            report.spend += float(lake_rows["spend"].sum() or 0.0)
            currencies.update(lake_rows["currency"].drop_nulls().unique().to_list())
            staging.add(state.file_no, lake_rows)

        for file_no, path in enumerate(paths):
            state = _FileState(file_no)
            rejected: list[str] = []
            size = chunk_bytes if chunk_bytes is not None else chunk_size(path)
            for chunk in _chunks(path, size, progress, **options):
                if state.parsed is None:
                    state.parsed = chunk
                    report.warnings += chunk.warnings
                rejected += chunk.rejected
                report.rejected_rows += chunk.rejected_rows
                rows = chunk.rows
                state.seen(rows)
                if state.held is not None:
                    rows = pl.concat([state.held, rows], how="vertical")
                if rows.height == 0:
                    continue
                done, state.held = _split_last_day(rows)
                stage(state, done)
            if state.held is not None:
                stage(state, state.held)
            report.rejected += rejected[:MAX_REJECTS_SHOWN]
            assert state.parsed is not None
            parsed = state.parsed
            start, end = (
                (parsed.start, parsed.end) if parsed.declared_range else (state.first_day, state.last_day)
            )
            report.files.append(
                {
                    "path": str(path),
                    "format": parsed.format.name,
                    "rows": state.rows,
                    "start": start,
                    "end": end,
                }
            )
            cover += state.coverage()
        result = staging.commit(_merged(cover))
        for file_no, entry in enumerate(report.files):  # rows as staged: a file's repeated keys summed
            entry["rows"] = staging.file_rows(file_no)
    if engine is not None and result.days:
        with transaction(engine) as session:
            record_partitions(session, "ad_spend", result.days)
    report.rows_written = result.rows_written  # after a file's repeated keys are summed
    report.rows_replaced = result.rows_replaced
    report.days_written = len(result.days)
    report.currencies = sorted(currencies)
    return report


def total_bytes(paths: list[Path]) -> int:
    """The bytes an import of ``paths`` reads, for a progress display (files it cannot see count 0:
    reading them says why)."""
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def _merged(cover: list[Coverage]) -> list[Coverage]:
    """Per platform and account, the union of the files' date ranges."""
    spans: dict[tuple[str, str], tuple[date, date]] = {}
    for c in cover:
        start, end = spans.get((c.platform, c.account), (c.start, c.end))
        spans[(c.platform, c.account)] = (min(start, c.start), max(end, c.end))
    return [Coverage(p, a, s, e) for (p, a), (s, e) in sorted(spans.items())]
