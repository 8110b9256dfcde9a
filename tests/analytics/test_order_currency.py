"""Orders in several currencies are converted to the reporting currency before revenue, RFM, LTV and
blended ROAS; a currency without a rate stops the real CLI with one line naming it and the file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from aicmo.settings import CurrencySettings, Settings
from aicmo.storage.lake import Lake
from aicmo.tasks.ads.roi import roi_report
from aicmo.tasks.analytics.ltv import compute_ltv
from aicmo.tasks.analytics.orders import reporting_orders
from aicmo.tasks.analytics.rfm import rfm_summary, spend_summary
from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, simulate_bgnbd_orders
from tests.one_line import one_error_line

RATES = """date,currency,rate
2026-01-01,EUR,1.10
2026-03-01,EUR,1.20
2026-01-01,GBP,1.25
"""
AS_OF = date(2026, 3, 31)


def _ts(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def _orders(rows: list[tuple[int, str, float, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "contact_id": [r[0] for r in rows],
            "ts": [_ts(r[1]) for r in rows],
            "amount": [r[2] for r in rows],
            "currency": [r[3] for r in rows],
            "source": ["stripe"] * len(rows),
        },
        schema_overrides={"currency": pl.String},
    )


@pytest.fixture
def money(tmp_path: Path) -> CurrencySettings:
    path = tmp_path / "rates.csv"
    path.write_text(RATES)
    return CurrencySettings(reporting_currency="USD", rates_file=path)


def test_mixed_currency_revenue_and_spend_equal_the_hand_computation(
    money: CurrencySettings, lake: Lake
) -> None:
    orders = _orders(
        [
            (1, "2026-01-10", 100.0, "USD"),
            (1, "2026-02-10", 50.0, "EUR"),  # 1.10 (January's rate still applies) -> 55
            (1, "2026-03-05", 20.0, "EUR"),  # 1.20 (March's rate) -> 24
            (2, "2026-01-15", 80.0, "GBP"),  # 1.25 -> 100
            (2, "2026-03-02", 10.0, "EUR"),  # 1.20 (March's rate) -> 12
            (3, "2026-02-01", 40.0, None),  # no currency recorded: taken as the reporting currency
        ]
    )
    converted = reporting_orders(orders.lazy(), money).collect()
    assert converted["amount"].to_list() == pytest.approx([100.0, 55.0, 24.0, 100.0, 12.0, 40.0])
    assert set(converted["currency"]) == {"USD"}

    summary = rfm_summary(reporting_orders(orders.lazy(), money), AS_OF).collect().sort("contact_id")
    assert summary["revenue"].to_list() == pytest.approx([100 + 55 + 24, 100 + 12, 40])
    assert summary["aov"].to_list() == pytest.approx([179 / 3, 112 / 2, 40])
    spend = spend_summary(reporting_orders(orders.lazy(), money), AS_OF).collect().sort("contact_id")
    # Gamma-Gamma's monetary value: the mean of the repeat purchase days
    assert spend["spend_value"].to_list() == pytest.approx([(55 + 24) / 2, 12, 0.0])

    lake.write("orders", orders)
    lake.write(
        "ad_spend",
        pl.DataFrame(
            {
                "date": [date(2026, 3, 2)],
                "platform": ["meta"],
                "campaign": ["Spring"],
                "ad_set": ["All"],
                "ad": [""],
                "spend": [50.0],
            }
        ),
    )
    day = roi_report(lake, currency=money).by["day"].row(0, named=True)
    assert day["orders_revenue"] == pytest.approx(12.0) and day["blended_roas"] == pytest.approx(12 / 50)


def test_ltv_of_mixed_currencies_equals_ltv_of_the_orders_converted_by_hand(money: CurrencySettings) -> None:
    """Every third order is stored in EUR or GBP at its day's rate; the predicted LTV must not move."""
    usd = simulate_bgnbd_orders(
        1500,
        BgNbdParams(r=0.5, alpha=60.0, a=0.8, b=2.5),
        GammaGammaParams(p=6.0, q=4.0, gamma=40.0),
        date(2026, 1, 1),
        date(2026, 12, 31),
        seed=3,
    )
    march = pl.datetime(2026, 3, 1, time_zone="UTC")
    index = pl.int_range(pl.len())
    mixed = usd.with_columns(
        pl.when(index % 3 == 1)
        .then(pl.lit("EUR"))
        .when(index % 3 == 2)
        .then(pl.lit("GBP"))
        .otherwise(pl.lit("USD"))
        .alias("currency")
    ).with_columns(
        pl.when(pl.col("currency") == "EUR")
        .then(pl.col("amount") / pl.when(pl.col("ts") < march).then(1.10).otherwise(1.20))
        .when(pl.col("currency") == "GBP")
        .then(pl.col("amount") / 1.25)
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    assert mixed["amount"].sum() < usd["amount"].sum() * 0.95  # unconverted, the totals would be off
    as_of = date(2026, 12, 31)
    expected = compute_ltv(usd.lazy(), as_of).frame.sort("contact_id")
    got = compute_ltv(reporting_orders(mixed.lazy(), money), as_of).frame.sort("contact_id")
    assert got["revenue"].to_list() == pytest.approx(expected["revenue"].to_list(), rel=1e-9)
    assert got["predicted_ltv"].fill_null(0).to_list() == pytest.approx(
        expected["predicted_ltv"].fill_null(0).to_list(), rel=1e-6
    )


def test_no_rates_configured_names_the_currency_and_the_settings() -> None:
    orders = _orders([(1, "2026-01-10", 10.0, "USD"), (1, "2026-01-12", 5.0, "SEK")])
    with pytest.raises(Exception, match=r"orders in SEK need rates to USD: set AICMO_RATES_FILE") as info:
        reporting_orders(orders.lazy(), CurrencySettings(reporting_currency="USD")).collect()
    assert type(info.value).__name__ == "InputError"
    # every order in the reporting currency: no rates needed, none read (the file need not exist)
    only_usd = orders.filter(pl.col("currency") == "USD").lazy()
    missing = CurrencySettings(reporting_currency="USD", rates_file=Path("/no/such/rates.csv"))
    assert reporting_orders(only_usd, missing).collect()["amount"].to_list() == [10.0]


def test_unknown_currency_through_the_real_cli_is_one_line_naming_it_and_the_file(
    tmp_path: Path, money: CurrencySettings
) -> None:
    home = tmp_path / "home"
    Lake(str(home / "lake")).write(
        "orders",
        _orders(
            [(1, "2026-01-10", 100.0, "USD"), (1, "2026-02-10", 9000.0, "JPY"), (2, "2026-02-11", 5.0, "EUR")]
        ),
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AICMO_")},
        "AICMO_HOME": str(home),
        "AICMO_RATES_FILE": str(money.rates_file),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from aicmo.cli import main; main()",
            "analytics",
            "ltv",
            "--as-of",
            "2026-03-31",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert "orders: unknown currency JPY: no rate to USD" in line
    assert f"add its rates to {money.rates_file}" in line


def test_shared_setting_keeps_the_ads_names_and_defaults_to_the_home_rates_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AICMO_REPORTING_CURRENCY", "AICMO_RATES_FILE", "AICMO_RATES_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AICMO_ADS_REPORTING_CURRENCY", "eur")
    monkeypatch.setenv("AICMO_ADS_RATES_URL", "https://api.frankfurter.app")
    assert CurrencySettings().reporting_currency == "EUR"
    assert CurrencySettings().rates_url == "https://api.frankfurter.app"
    monkeypatch.setenv("AICMO_REPORTING_CURRENCY", "GBP")
    assert CurrencySettings().reporting_currency == "GBP"  # the shared name wins
    monkeypatch.delenv("AICMO_ADS_RATES_URL")
    home = tmp_path / "home"
    home.mkdir()
    assert Settings(home=home).currency.rates_file is None
    (home / "rates.csv").write_text(RATES)
    assert Settings(home=home).currency.rates_file == home / "rates.csv"
