"""Where exchange rates come from, and amounts converted to the reporting currency with them.

Analytics (orders before LTV, RFM, cohorts and revenue) and ads (report imports, blended ROAS)
share one ``CurrencySettings``: the reporting currency, and a rates CSV file or a Frankfurter
server reached through the provider gateway. ``RatesSource`` is either a ready rates table or a
function that, given the foreign currencies found and their first and last day, fetches the table
(``gateway_rates``: the ECB reference rates through an ``fx_rates`` chain, so retries and the
breaker apply), or None when nothing is configured.

``to_reporting`` is the one conversion every caller uses: it finds the foreign currencies, asks
the source only when there are some, and stops with one line naming the currency and the setting
(or file) to fix when a rate is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import polars as pl

from aicmo.errors import InputError
from aicmo.settings import CurrencySettings, GatewaySettings
from aicmo.tasks.analytics.currency import convert, fetch_rates, load_rates_csv

RatesFetcher = Callable[[list[str], date, date], pl.DataFrame | None]
RatesSource = pl.DataFrame | RatesFetcher | None
FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
LOOKBACK_DAYS = 7  # reference rates skip weekends and holidays: start a week early


def gateway_rates(
    base_url: str, reporting_currency: str, settings: GatewaySettings | None = None
) -> RatesFetcher:
    """A fetcher of daily rates to ``reporting_currency`` from a Frankfurter server at ``base_url``."""
    from aicmo.tasks.gateway import ProviderChain, make_client
    from aicmo.tasks.providers.frankfurter import FrankfurterProvider

    gw = settings or GatewaySettings()

    def fetch(currencies: list[str], start: date, end: date) -> pl.DataFrame:
        async def run() -> pl.DataFrame:
            chain = ProviderChain("fx_rates", [FrankfurterProvider(base_url, settings=gw)], settings=gw)
            async with make_client(gw) as client:
                return await fetch_rates(
                    chain, client, currencies, start - timedelta(days=LOOKBACK_DAYS), end, reporting_currency
                )

        return asyncio.run(run())

    return fetch


def configured_rates(
    currency: CurrencySettings, gateway: GatewaySettings | None = None, path: Path | None = None
) -> RatesSource:
    """The rates of ``path`` (a command's ``--rates``), else of the configured file, else of the
    configured Frankfurter server, else None."""
    chosen = path or currency.rates_file
    if chosen:
        return load_rates_csv(Path(chosen))
    if currency.rates_url:
        return gateway_rates(currency.rates_url, currency.reporting_currency, gateway)
    return None


def rates_hint(currency: CurrencySettings, path: Path | None = None) -> str:
    """What a person changes when a currency has no rate: the file in use, or the settings to set."""
    chosen = path or currency.rates_file
    if chosen:
        return f"add its rates to {chosen} (CSV: date,currency,rate)"
    if currency.rates_url:
        return f"the rates server {currency.rates_url} (AICMO_RATES_URL) must know it"
    return "set AICMO_RATES_FILE (CSV: date,currency,rate) or AICMO_RATES_URL"


def foreign_currencies(frame: pl.DataFrame | pl.LazyFrame, currency_col: str, reporting: str) -> list[str]:
    """The currencies of ``frame`` other than ``reporting`` (nulls count as the reporting currency)."""
    found = frame.lazy().select(pl.col(currency_col).drop_nulls().unique()).collect()
    return sorted(c for c in found[currency_col].to_list() if c != reporting)


def to_reporting(
    frame: FrameT,
    amounts: Mapping[str, str],
    currency_col: str,
    date_col: str,
    rates: RatesSource,
    reporting_currency: str,
    *,
    hint: str,
    what: str = "amounts",
) -> FrameT:
    """``frame`` with each ``amounts`` column (source -> output name) in ``reporting_currency``.

    Rows in the reporting currency (or without one) are kept as they are, and when every row is,
    the rates are not even asked for. A foreign currency without a rate, or with no source of
    rates at all, is an ``InputError`` naming it and ending with ``hint`` (what to fix). Row
    order is kept.
    """
    reporting = reporting_currency.upper()
    foreign = foreign_currencies(frame, currency_col, reporting)
    if not foreign:
        return frame.with_columns(pl.col(src).alias(out) for src, out in amounts.items())
    if callable(rates):
        span = frame.lazy().select(pl.col(date_col).min().alias("a"), pl.col(date_col).max().alias("b"))
        first, last = (v.date() if isinstance(v, datetime) else v for v in span.collect().row(0))
        rates = rates(foreign, first, last)
    if rates is None:
        raise InputError(f"{what} in {', '.join(foreign)} need rates to {reporting}: {hint}")
    out = frame
    for src, dst in amounts.items():
        out = convert(out, src, currency_col, date_col, rates, reporting, out=dst, hint=hint, what=what)
    return out
