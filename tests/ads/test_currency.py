"""Currency conversion: nearest earlier rate, any frame shape, unknown currencies named, bad rate files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from aicmo.errors import InputError
from aicmo.tasks.analytics.currency import convert, load_rates_csv, rates_frame

RATES = rates_frame(
    [(date(2026, 11, 2), "EUR", 1.08), (date(2026, 11, 6), "EUR", 1.10), (date(2026, 11, 1), "GBP", 1.25)]
)


def test_nearest_earlier_rate_keeps_row_order_and_reporting_currency_rows() -> None:
    frame = pl.DataFrame(
        {
            "day": [
                date(2026, 11, 7),
                date(2026, 11, 3),
                date(2026, 11, 6),
                date(2026, 11, 1),
                date(2026, 11, 2),
            ],
            "cur": ["EUR", "EUR", "EUR", "USD", None],
            "amount": [100.0, 100.0, 100.0, 100.0, 100.0],
        }
    )
    out = convert(frame, "amount", "cur", "day", RATES, "usd", out="amount_usd")
    assert out["amount_usd"].to_list() == pytest.approx([110.0, 108.0, 110.0, 100.0, 100.0])
    assert out["amount"].to_list() == [100.0] * 5 and out.columns == ["day", "cur", "amount", "amount_usd"]


def test_lazy_frames_and_timestamps_convert_too() -> None:
    orders = pl.LazyFrame(
        {"ts": [datetime(2026, 11, 5, 23, 59, tzinfo=UTC)], "currency": ["GBP"], "amount": [10.0]}
    )
    out = convert(orders, "amount", "currency", "ts", RATES, "USD")
    assert isinstance(out, pl.LazyFrame)
    assert out.collect()["amount"].item() == pytest.approx(12.5)


def test_unknown_currency_is_named() -> None:
    frame = pl.DataFrame({"d": [date(2026, 11, 3)], "c": ["SEK"], "a": [1.0]})
    with pytest.raises(
        InputError, match=r"unknown currency SEK: no rate to USD \(rates known for EUR, GBP, USD\)"
    ):
        convert(frame, "a", "c", "d", RATES, "USD")


def test_amount_before_the_first_rate_is_named() -> None:
    frame = pl.DataFrame({"d": [date(2026, 10, 30)], "c": ["EUR"], "a": [1.0]})
    with pytest.raises(InputError, match=r"no EUR rate on or before 2026-10-30 \(first rate: 2026-11-02\)"):
        convert(frame, "a", "c", "d", RATES, "USD")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("day,currency,rate\n2026-11-01,EUR,1.1\n", r"lacks column\(s\) date"),
        ("date,currency,rate\n2026-11-01,EUR,-1\n", "rate must be a positive number"),
        ("date,currency,rate\n2026-11-01,EURO,1.1\n", "not an ISO currency code: 'EURO'"),
    ],
)
def test_bad_rates_file_is_one_clear_error(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=needle):
        load_rates_csv(path)


async def test_rates_through_the_gateway_chain() -> None:
    from aicmo.fakes.ads_platforms import FakeAdPlatforms
    from aicmo.settings import GatewaySettings
    from aicmo.tasks.analytics.currency import fetch_rates
    from aicmo.tasks.gateway import ProviderChain, make_client
    from aicmo.tasks.providers.frankfurter import FrankfurterProvider

    gw = GatewaySettings(backoff_base_s=0.01, max_attempts=3)
    with FakeAdPlatforms() as fake:
        fake.server_error("frankfurter", times=1)  # retried by the gateway
        chain = ProviderChain(
            "fx_rates", [FrankfurterProvider(fake.frankfurter_base_url, settings=gw)], settings=gw
        )
        async with make_client(gw) as client:
            rates = await fetch_rates(
                chain, client, ["EUR", "USD"], date(2026, 11, 2), date(2026, 11, 8), "USD"
            )
            with pytest.raises(InputError, match="unknown currency XYZ"):
                await fetch_rates(chain, client, ["XYZ"], date(2026, 11, 2), date(2026, 11, 8), "USD")
    assert set(rates["currency"]) == {"EUR"} and rates.height == 5  # business days only
    frame = pl.DataFrame({"d": [date(2026, 11, 8)], "c": ["EUR"], "a": [100.0]})  # a Sunday: Friday's rate
    friday = rates.filter(pl.col("date") == date(2026, 11, 6))["rate"].item()
    assert convert(frame, "a", "c", "d", rates, "USD")["a"].item() == pytest.approx(100 * friday)
