"""Cost and ROI: rates worked out by hand, the lake's attribution and orders joined, owned channels beside."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from aicmo.storage.lake import Lake
from aicmo.tasks.ads.roi import roi_report, write_daily_roi

D1, D2 = date(2026, 11, 12), date(2026, 11, 13)


def _spend() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [D1, D1, D2],
            "platform": ["meta", "meta", "google_ads"],
            "account": ["act_1", "act_1", "123"],
            "campaign_id": [7, 7, 8],
            "campaign": ["Prospecting", "Prospecting", "Brand"],
            "ad_set": ["Lookalike", "Interests", "Exact"],
            "ad": ["a", "b", ""],
            "impressions": [10_000, 5_000, 2_000],
            "clicks": [200, 50, 100],
            "spend": [100.0, 50.0, 80.0],
            "conversions": [4.0, 1.0, 2.5],
            "conversion_value": [400.0, 50.0, 300.0],
            "currency": ["EUR", "EUR", "USD"],
        }
    )


def test_rates_per_level_by_hand(lake: Lake) -> None:
    lake.write("ad_spend", _spend())
    report = roi_report(lake)
    meta = report.by["platform"].filter(pl.col("platform") == "meta").row(0, named=True)
    assert (meta["spend"], meta["impressions"], meta["clicks"], meta["conversions"]) == (
        150.0,
        15_000,
        250,
        5.0,
    )
    assert meta["ctr"] == pytest.approx(250 / 15_000)
    assert meta["cpc"] == pytest.approx(150 / 250)
    assert meta["cpm"] == pytest.approx(150 / 15_000 * 1000)
    assert meta["cpa"] == pytest.approx(30.0)
    assert meta["roas"] == pytest.approx(450 / 150)
    assert report.by["ad_set"].height == 3 and report.by["day"]["spend"].to_list() == [150.0, 80.0]
    assert report.totals()["roas"] == pytest.approx(750 / 230)
    written = write_daily_roi(lake, report)
    assert written == {D1: 2, D2: 1}
    assert lake.scan("ads_roi_daily").collect()["spend"].sum() == pytest.approx(230.0)


def test_attribution_orders_and_owned_channels_join_in(lake: Lake) -> None:
    lake.write("ad_spend", _spend())
    lake.write(
        "attribution",
        pl.DataFrame(
            {
                "day": [D1, D1, D2],
                "model": ["linear", "first_touch", "linear"],
                "channel": ["ads", "ads", "email"],
                "campaign_id": [7, 7, 1],
                "conversions": [3.0, 9.0, 5.0],
                "revenue": [240.0, 999.0, 100.0],
            }
        ),
    )
    lake.write(
        "orders",
        pl.DataFrame(
            {
                "order_id": ["o1", "o2"],
                "contact_id": [1, 2],
                "ts": [datetime(2026, 11, 12, 10, tzinfo=UTC), datetime(2026, 11, 13, 11, tzinfo=UTC)],
                "amount": [300.0, 160.0],
                "currency": ["USD", "USD"],
                "source": ["shop", "shop"],
            }
        ),
    )
    lake.write(
        "kpis_daily",
        pl.DataFrame(
            {
                "day": [D1],
                "campaign_id": [1],
                "channel": ["email"],
                "sends": [1000],
                "conversions": [5],
                "revenue": [100.0],
                "event_cost": [2.0],
            }
        ),
    )
    report = roi_report(lake)
    prospecting = report.by["campaign"].filter(pl.col("campaign") == "Prospecting").row(0, named=True)
    assert prospecting["attributed_conversions"] == 3.0 and prospecting["attributed_revenue"] == 240.0
    assert prospecting["attributed_roas"] == pytest.approx(240 / 150)
    day1 = report.by["day"].filter(pl.col("day") == D1).row(0, named=True)
    assert day1["blended_roas"] == pytest.approx(300 / 150)
    email = report.channels.filter(pl.col("channel") == "email").row(0, named=True)
    assert email["kind"] == "owned" and email["cost_per_send"] == pytest.approx(0.002)
    assert set(report.channels["channel"]) == {"email", "meta", "google_ads"}
