"""Import ad-platform report files into the lake's ``ad_spend``: read, convert, replace.

All files of one import are read first; amounts are converted to the reporting currency (a file in
another currency needs a rates table, else the import stops naming the currency); then, per
platform and account, the days the files cover are replaced in the lake, so reimporting an
overlapping range never counts a day twice, and two files of one account imported together (say,
one per campaign) both stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.models.lake import AD_SPEND
from aicmo.storage.ads import Coverage, replace_ad_spend
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.tasks.ads.report_reader import ParsedReport, read_report
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


def _coverage(parsed: list[ParsedReport]) -> list[Coverage]:
    """Per platform and account, the union of the files' date ranges."""
    spans: dict[tuple[str, str], tuple[date, date]] = {}
    for report in parsed:
        if report.start is None or report.end is None or report.rows.height == 0:
            continue
        pairs = report.rows.select("platform", "account").unique().iter_rows()
        for platform, account in pairs:
            key = (str(platform), str(account))
            start, end = spans.get(key, (report.start, report.end))
            spans[key] = (min(start, report.start), max(end, report.end))
    return [Coverage(p, a, s, e) for (p, a), (s, e) in sorted(spans.items())]


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
) -> ImportReport:
    """Import report files into ``ad_spend``; with ``engine``, note the days written for the KPIs.

    Raises ``InputError`` (nothing written) when a file is unreadable, not a known format, lacks a
    required column, or has amounts in a currency without a rate; rows with a bad value are left
    out and listed in ``rejected``.
    """
    if not paths:
        raise InputError("no report files given")
    parsed = [read_report(p, currency=currency, account=account, day_first=day_first) for p in paths]
    report = ImportReport(reporting_currency=reporting_currency.upper())
    for p in parsed:
        report.warnings += p.warnings
        report.rejected += p.rejected
        report.rejected_rows += p.rejected_rows
        report.files.append(
            {
                "path": str(p.path),
                "format": p.format.name,
                "rows": p.rows.height,
                "start": p.start,
                "end": p.end,
            }
        )
    rows = pl.concat([p.rows for p in parsed], how="vertical")
    lake_rows = to_lake_rows(rows, rates, reporting_currency, hint=rates_hint)
    cover = _coverage(parsed)
    result = replace_ad_spend(lake, lake_rows, cover)
    if engine is not None and result.days:
        with transaction(engine) as session:
            record_partitions(session, "ad_spend", result.days)
    report.rows_written = result.rows_written
    report.rows_replaced = result.rows_replaced
    report.days_written = len(result.days)
    report.spend = float(lake_rows["spend"].sum() or 0.0)
    report.currencies = sorted(lake_rows["currency"].unique().drop_nulls().to_list())
    return report
