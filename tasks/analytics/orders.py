"""The lake's orders with every amount in the reporting currency, as LTV, RFM, cohorts and revenue
figures need them.

Stripe (and a shop) record each order in the currency it was paid in; adding EUR and USD amounts
as if they were one currency makes every monetary figure wrong without any error. So every reader
of order amounts goes through ``reporting_orders``: an as-of join on the rates table (the rate of
the order's day, or the nearest earlier one) and one multiplication, all in Polars. When every
order is already in the reporting currency the rates are not read at all. A currency without a
rate stops the run with one line naming it and the file or setting to fix.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from aicmo.settings import CurrencySettings, GatewaySettings
from aicmo.tasks.analytics.rates import configured_rates, rates_hint, to_reporting


def reporting_orders(
    orders: pl.LazyFrame, currency: CurrencySettings | None = None, gateway: GatewaySettings | None = None
) -> pl.LazyFrame:
    """``orders`` (the lake's ``orders`` table, or any frame with ``ts``, ``amount``, ``currency``)
    with ``amount`` converted to the reporting currency and ``currency`` set to it.

    ``currency`` defaults to the environment's ``CurrencySettings`` (``AICMO_REPORTING_CURRENCY``,
    ``AICMO_RATES_FILE``, ``AICMO_RATES_URL``).
    """
    money = currency or CurrencySettings()
    reporting = money.reporting_currency
    if "currency" not in orders.collect_schema().names():
        return orders

    def rates(foreign: list[str], first: date, last: date) -> pl.DataFrame | None:
        """The configured rates, read only when some order is in another currency."""
        source = configured_rates(money, gateway)
        return source(foreign, first, last) if callable(source) else source

    converted = to_reporting(
        orders,
        {"amount": "amount"},
        "currency",
        "ts",
        rates,
        reporting,
        hint=rates_hint(money),
        what="orders",
    )
    return converted.with_columns(pl.lit(reporting, pl.String).alias("currency"))
