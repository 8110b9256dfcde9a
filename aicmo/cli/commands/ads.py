"""``aicmo ads``: import platform reports, pace budgets, allocate, change budgets and bids, report cost and ROI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from aicmo.cli.console import console, err_console
from aicmo.errors import InputError
from aicmo.settings import get_settings
from aicmo.wiring import engine, lake

app = typer.Typer(
    help="Paid ads: report imports, pacing, allocation, bids, cost and ROI.", no_args_is_help=True
)


def _cell(value: Any) -> str:
    """A table cell; text from files and APIs is escaped, never read as rich markup."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.2f}"
    return escape(str(value))


def print_frame(df: pl.DataFrame, title: str) -> None:
    """A frame as a rich table, every cell escaped."""
    table = Table(title=escape(title))
    for col in df.columns:
        table.add_column(escape(col), justify="right" if df.schema[col].is_numeric() else "left")
    for row in df.iter_rows():
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def _rates(path: Path | None) -> pl.DataFrame | None:
    from aicmo.tasks.analytics.currency import load_rates_csv

    chosen = path or get_settings().ads.rates_file
    return load_rates_csv(chosen) if chosen else None


RATES = typer.Option(None, "--rates", help="Rates CSV (date,currency,rate); default AICMO_ADS_RATES_FILE.")


@app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(..., help="Google Ads, Meta Ads Manager or generic CSV reports."),
    rates: Path | None = RATES,
    currency: str | None = typer.Option(
        None, "--currency", help="The account's currency when the file has no currency column."
    ),
    account: str | None = typer.Option(
        None, "--account", help="The account's id or name when the file does not say."
    ),
    day_first: bool | None = typer.Option(
        None, "--day-first/--month-first", help="How to read dates such as 03/11/2026 (default: settings)."
    ),
) -> None:
    """Import reports into the lake's ad_spend, replacing the days they cover for their platform and account."""
    from aicmo.tasks.ads.importer import import_reports

    settings = get_settings().ads
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise InputError(f"--currency: not an ISO currency code: {currency!r}")
    report = import_reports(
        files,
        lake(),
        engine=engine(),
        rates=_rates(rates),
        reporting_currency=settings.reporting_currency,
        currency=currency.upper() if currency else None,
        account=account,
        day_first=settings.day_first if day_first is None else day_first,
    )
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    print_frame(
        pl.DataFrame(
            [{**f, "start": str(f["start"]), "end": str(f["end"])} for f in report.files],
            schema={
                "path": pl.String,
                "format": pl.String,
                "rows": pl.Int64,
                "start": pl.String,
                "end": pl.String,
            },
        ),
        "ad reports read",
    )
    console.print(
        f"{report.rows_written:,} row(s) written over {report.days_written:,} day(s), "
        f"{report.rows_replaced:,} earlier row(s) replaced; spend {report.spend:,.2f} {report.reporting_currency}",
        highlight=False,
    )
    if report.rejected_rows:
        for line in report.rejected:
            err_console.print(f"[red]rejected:[/] {escape(line)}", highlight=False, soft_wrap=True)
        err_console.print(f"[yellow]{report.rejected_rows} bad row(s) left out[/]", highlight=False)
        raise typer.Exit(1)
