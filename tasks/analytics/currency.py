"""Exchange rates and conversion to the reporting currency, as Polars expressions.

A rates table has one row per ``(date, currency)`` with ``rate``: how many units of the reporting
currency one unit of ``currency`` is worth on that day. An amount dated ``d`` converts at the rate
of the nearest date on or before ``d`` (markets close on weekends; a rates file often has only
business days or only month starts). Amounts already in the reporting currency, or with no
currency recorded, are kept as they are. A currency the table does not know, or one whose first
rate is later than the amount's date, is an ``InputError`` naming it: a silently wrong total is
worse than a stopped import.

Rates come from a CSV file (``load_rates_csv``), from the provider gateway (``fetch_rates`` over
an ``fx_rates`` chain, e.g. ``FrankfurterProvider``'s ECB reference rates), or from any source
that yields the same three columns (``rates_frame``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import TypeVar

import httpx
import polars as pl

from aicmo.errors import InputError
from aicmo.tasks.gateway import ProviderChain

RATES_SCHEMA = pl.Schema({"date": pl.Date, "currency": pl.String, "rate": pl.Float64})
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
_ROW = "__currency_row"
_RATE = "__currency_rate"
_RATE_DATE = "__currency_rate_date"


def rates_frame(
    rows: Iterable[tuple[date, str, float]] | Mapping[str, float], on: date | None = None
) -> pl.DataFrame:
    """A rates table from ``(date, currency, rate)`` tuples, or ``{currency: rate}`` valid from ``on``."""
    if isinstance(rows, Mapping):
        start = on or date(1970, 1, 1)
        rows = [(start, c, r) for c, r in rows.items()]
    frame = pl.DataFrame(list(rows), schema=RATES_SCHEMA, orient="row")
    return _check(frame.with_columns(pl.col("currency").str.strip_chars().str.to_uppercase()), "rates")


def _check(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    bad = frame.filter(pl.col("rate").is_null() | (pl.col("rate") <= 0) | pl.col("date").is_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(f"{source}: rate must be a positive number with a date, got {row}")
    codes = frame.filter(~pl.col("currency").str.contains(r"^[A-Z]{3}$"))
    if codes.height:
        raise InputError(f"{source}: not an ISO currency code: {codes['currency'][0]!r}")
    return frame.unique(["date", "currency"], keep="last", maintain_order=True).sort("currency", "date")


def load_rates_csv(path: Path) -> pl.DataFrame:
    """Rates from a CSV with columns ``date`` (YYYY-MM-DD), ``currency`` (ISO code) and ``rate``."""
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except FileNotFoundError:
        raise InputError(f"{path}: rates file not found") from None
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None
    raw = raw.rename({c: c.strip().lower() for c in raw.columns})
    missing = [c for c in RATES_SCHEMA.names() if c not in raw.columns]
    if missing:
        raise InputError(
            f"{path}: rates file lacks column(s) {', '.join(missing)} (has {', '.join(raw.columns)})"
        )
    frame = raw.select(
        pl.col("date").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
        pl.col("currency").str.strip_chars().str.to_uppercase(),
        pl.col("rate").str.strip_chars().cast(pl.Float64, strict=False),
    )
    return _check(frame, str(path))


def _unknown(
    frame: pl.LazyFrame,
    currency_col: str,
    date_col: str,
    rates: pl.DataFrame,
    reporting: str,
    hint: str = "",
    what: str = "",
) -> None:
    """Raise naming the first currency (and date) that has no rate on or before its amount's date;
    ``what`` says whose amounts they are and ``hint`` what to fix."""
    lead = f"{what}: " if what else ""
    tail = f"; {hint}" if hint else ""
    needed = (
        frame.filter(pl.col(currency_col).is_not_null() & (pl.col(currency_col) != reporting))
        .group_by(currency_col)
        .agg(pl.col(date_col).min().alias("first_needed"))
        .collect()
    )
    first_rate = rates.group_by("currency").agg(pl.col("date").min().alias("first_rate"))
    checked = needed.join(first_rate, left_on=currency_col, right_on="currency", how="left").sort(
        currency_col
    )
    unknown = checked.filter(pl.col("first_rate").is_null())[currency_col].to_list()
    if unknown:
        known = sorted({*rates["currency"].unique().to_list(), reporting})
        raise InputError(
            f"{lead}unknown currency {', '.join(unknown)}: no rate to {reporting} "
            f"(rates known for {', '.join(known)}){tail}"
        )
    early = checked.filter(pl.col("first_needed") < pl.col("first_rate"))
    if early.height:
        row = early.row(0, named=True)
        raise InputError(
            f"{lead}no {row[currency_col]} rate on or before {row['first_needed']} "
            f"(first rate: {row['first_rate']}){tail}"
        )


def convert(
    frame: FrameT,
    amount_col: str,
    currency_col: str,
    date_col: str,
    rates: pl.DataFrame,
    reporting_currency: str,
    *,
    out: str | None = None,
    hint: str = "",
    what: str = "",
) -> FrameT:
    """``frame`` with ``amount_col`` converted to ``reporting_currency`` (into ``out`` if given).

    Rows keep their order. ``rates`` is a table of ``RATES_SCHEMA``; the conversion is an as-of
    join per currency (nearest earlier date), then one multiplication, all in Polars.
    """
    reporting = reporting_currency.upper()
    lazy = frame.lazy()
    _unknown(lazy, currency_col, date_col, rates, reporting, hint, what)
    when_type = lazy.collect_schema()[date_col]  # a Date, or a Datetime such as an order's ``ts``
    table = rates.lazy().select(
        pl.col("date").cast(when_type).alias(_RATE_DATE),
        pl.col("currency").alias(currency_col),
        pl.col("rate").alias(_RATE),
    )
    joined = (
        lazy.with_row_index(_ROW)
        .sort(date_col)
        .join_asof(
            table.sort(_RATE_DATE),
            left_on=date_col,
            right_on=_RATE_DATE,
            by=currency_col,
            strategy="backward",
            check_sortedness=False,  # sorted just above
        )
        .sort(_ROW)
    )
    same = pl.col(currency_col).is_null() | (pl.col(currency_col) == reporting)
    rate = pl.when(same).then(pl.lit(1.0)).otherwise(pl.col(_RATE))
    result = joined.with_columns((pl.col(amount_col) * rate).alias(out or amount_col)).drop(
        _ROW, _RATE, _RATE_DATE
    )
    if isinstance(frame, pl.DataFrame):
        return result.collect()
    return result


async def fetch_rates(
    chain: ProviderChain,
    client: httpx.AsyncClient,
    currencies: Iterable[str],
    start: date,
    end: date,
    reporting_currency: str,
) -> pl.DataFrame:
    """A rates table from an ``fx_rates`` chain of the provider gateway (retries, breaker, cache
    included); ``start`` should reach a few days back so the first day has an earlier rate.

    A currency the chain does not know is an ``InputError`` naming it; a chain that failed
    (every provider down) is an ``InputError`` with the gateway's reason.
    """
    reporting = reporting_currency.upper()
    rows: list[tuple[date, str, float]] = []
    for currency in sorted({c.upper() for c in currencies} - {reporting}):
        outcome = await chain.call(f"{currency}:{reporting}:{start.isoformat()}:{end.isoformat()}", client)
        if not outcome.ok:
            raise InputError(f"rates for {currency} to {reporting} unavailable: {outcome.error}")
        if not outcome.found or not outcome.value:
            raise InputError(f"unknown currency {currency}: the rates provider has no rate to {reporting}")
        rows.extend((date.fromisoformat(d), currency, r) for d, r in outcome.value["rates"].items())
    return rates_frame(rows)
