"""Where an import's exchange rates come from: a CSV file, or the provider gateway on demand.

``RatesSource`` is either a ready rates table or a function that, given the currencies an
import found and its first and last day, fetches the table (``gateway_rates``: Frankfurter's ECB
reference rates through an ``fx_rates`` chain, so retries and the breaker apply).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta

import polars as pl

from aicmo.settings import GatewaySettings
from aicmo.tasks.analytics.currency import fetch_rates

RatesFetcher = Callable[[list[str], date, date], pl.DataFrame]
RatesSource = pl.DataFrame | RatesFetcher | None
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
