"""KPIs: hand-computed counts, unique counts, rates with null on a zero denominator, roll-ups, increments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from sqlalchemy import Engine

from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.tasks.analytics.kpis import (
    aggregate_kpis,
    compute_daily_kpis,
    daily_kpis,
    recompute_daily_kpis,
    rerate,
    rollup_kpis,
    touched_days,
)
from tests.analytics.kpi_helpers import D1, D2, D3, EventLog, at, email_and_ads_log, spend

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def _row(df: pl.DataFrame, **where: object) -> dict[str, object]:
    hit = df.filter(*[pl.col(k) == v for k, v in where.items()])
    assert hit.height == 1, f"{where}: {hit.height} rows"
    return hit.row(0, named=True)


def test_daily_counts_and_rates_match_hand_computation() -> None:
    events = email_and_ads_log().frame().lazy()
    daily = compute_daily_kpis(events, spend([(D1, 2, 100.0)]).lazy())
    email = _row(daily, day=D1, campaign_id=1)
    assert {k: email[k] for k in ("sends", "deliveries", "bounces", "opens", "unique_opens", "clicks")} == {
        "sends": 4,
        "deliveries": 3,
        "bounces": 1,
        "opens": 3,
        "unique_opens": 2,
        "clicks": 2,
    }
    assert (email["unique_clicks"], email["conversions"], email["unsubscribes"], email["complaints"]) == (
        1,
        1,
        1,
        0,
    )
    assert email["revenue"] == 50.0
    assert email["cost"] == pytest.approx(0.04)
    assert email["delivery_rate"] == pytest.approx(3 / 4)
    assert email["open_rate"] == pytest.approx(2 / 3)
    assert email["ctr"] == pytest.approx(1 / 3)
    assert email["click_to_open"] == pytest.approx(1 / 2)
    assert email["conversion_rate"] == pytest.approx(1.0)
    assert email["cpa"] == pytest.approx(0.04)
    assert email["roas"] == pytest.approx(50 / 0.04)
    assert email["roi"] == pytest.approx((50 - 0.04) / 0.04)

    ads = _row(daily, day=D1, campaign_id=2)
    assert (ads["channel"], ads["unique_clicks"], ads["conversions"]) == ("ads", 2, 1)
    assert (ads["ad_spend"], ads["cost"]) == (100.0, 100.0)
    assert ads["roas"] == pytest.approx(3.0)
    assert ads["roi"] == pytest.approx(2.0)
    assert ads["cpa"] == pytest.approx(100.0)
    assert ads["open_rate"] is None  # ads deliver nothing: no denominator, no rate


def test_zero_denominators_give_null_not_errors_or_infinity() -> None:
    events = email_and_ads_log().frame().lazy()
    daily = compute_daily_kpis(events, spend([(D1, 2, 100.0), (D2, 2, 40.0)]).lazy())
    late = _row(daily, day=D2, campaign_id=1)
    assert (late["opens"], late["unique_opens"], late["deliveries"], late["sends"]) == (2, 2, 0, 0)
    for rate in ("delivery_rate", "open_rate", "ctr", "conversion_rate", "cpa", "roas", "roi"):
        assert late[rate] is None, rate
    assert late["click_to_open"] == 0.0  # 0 unique clicks over 2 unique opens is a real zero
    spend_only = _row(daily, day=D2, campaign_id=2)  # spend on a day without events still shows
    assert (spend_only["cost"], spend_only["conversions"], spend_only["cpa"]) == (40.0, 0, None)
    assert spend_only["roi"] == pytest.approx(-1.0)
    rates = daily.select(pl.col(pl.Float64)).to_numpy()
    assert not ((rates == float("inf")) | (rates == float("-inf"))).any()


def test_rollups_recompute_unique_counts_from_events() -> None:
    events = email_and_ads_log().frame().lazy()
    rollups = rollup_kpis(events, spend([(D1, 2, 100.0)]).lazy())
    campaign = _row(rollups["campaign"], campaign_id=1)
    # contact 1 opened on both days: 2 distinct openers, not 2 + 2 from the daily rows
    assert (campaign["opens"], campaign["unique_opens"]) == (5, 3)
    assert campaign["open_rate"] == pytest.approx(3 / 3)
    overall = rollups["overall"].row(0, named=True)
    assert (overall["unique_clicks"], overall["conversions"], overall["revenue"]) == (3, 2, 350.0)
    assert overall["cost"] == pytest.approx(100.04)
    assert rollups["channel"].get_column("channel").to_list() == ["ads", "email"]
    summed_daily = daily_kpis(events).collect().get_column("unique_opens").sum()
    assert summed_daily == 4  # the naive sum the roll-up must not report


def _email_sms_and_ads_log() -> EventLog:
    """Day 1: email campaign 1 delivered to contacts 1-4, contacts 1 and 2 open, contact 1 clicks;
    SMS campaign 3 delivered to contacts 1 and 5-9, contacts 1, 5, 6 and 7 click (no opens: SMS has
    none); ads campaign 2: contacts 10 and 11 click (no sends, no deliveries)."""
    log = EventLog()
    for c in (1, 2, 3, 4):
        log.add("send", c, at(D1, 8)).add("deliver", c, at(D1, 8, 1))
    log.add("open", 1, at(D1, 9)).add("open", 1, at(D1, 10)).add("open", 2, at(D1, 11))
    log.add("click", 1, at(D1, 9, 5))
    for c in (1, 5, 6, 7, 8, 9):
        log.add("send", c, at(D1, 12), campaign=3, channel="sms")
        log.add("deliver", c, at(D1, 12, 1), campaign=3, channel="sms")
    for c in (1, 5, 6, 7):
        log.add("click", c, at(D1, 13), campaign=3, channel="sms")
    log.add("click", 10, at(D1, 14), campaign=2, channel="ads").add(
        "click", 11, at(D1, 14), campaign=2, channel="ads"
    )
    return log


def test_open_rates_of_mixed_channels_count_only_channels_that_track_opens() -> None:
    events = _email_sms_and_ads_log().frame().lazy()
    rollups = rollup_kpis(events)
    overall = rollups["overall"].row(0, named=True)
    # 10 deliveries (4 email + 6 SMS), 6 distinct clickers (contact 1 clicked email and SMS once each)
    assert (overall["deliveries"], overall["unique_opens"], overall["unique_clicks"]) == (10, 2, 6)
    assert overall["open_tracked_deliveries"] == 4
    assert overall["open_tracked_unique_clicks"] == 1
    assert overall["delivery_tracked_unique_clicks"] == 4  # contacts 1, 5, 6, 7; not the ads clickers
    assert overall["open_rate"] == pytest.approx(2 / 4)  # email openers over email deliveries, not 2 / 10
    assert overall["click_to_open"] == pytest.approx(
        1 / 2
    )  # the email clicker over the email openers, not 6 / 2
    assert overall["click_to_open"] <= 1.0
    assert overall["ctr"] == pytest.approx(4 / 10)  # clickers of delivered messages, not 6 / 10
    by_day = aggregate_kpis(events, ["day"]).collect().row(0, named=True)  # keyed, without a channel
    assert (by_day["open_rate"], by_day["click_to_open"], by_day["ctr"]) == pytest.approx(
        (2 / 4, 1 / 2, 4 / 10)
    )
    by_campaign = aggregate_kpis(events, ["campaign_id"]).collect()
    assert _row(by_campaign, campaign_id=1)["click_to_open"] == pytest.approx(1 / 2)
    assert _row(by_campaign, campaign_id=3)["ctr"] == pytest.approx(4 / 6)

    # single-channel rows keep the plain definitions
    email = _row(rollups["channel"], channel="email")
    assert (email["open_rate"], email["ctr"], email["click_to_open"]) == pytest.approx((2 / 4, 1 / 4, 1 / 2))
    sms = _row(rollups["channel"], channel="sms")
    assert (sms["open_rate"], sms["click_to_open"]) == (None, None)
    assert sms["ctr"] == pytest.approx(4 / 6)
    ads = _row(rollups["channel"], channel="ads")
    assert (ads["open_rate"], ads["ctr"], ads["click_to_open"]) == (None, None, None)
    daily = compute_daily_kpis(events)
    assert _row(daily, day=D1, channel="email")["click_to_open"] == pytest.approx(1 / 2)
    assert _row(daily, day=D1, channel="sms")["ctr"] == pytest.approx(4 / 6)

    # summing the daily rows of the day keeps the open-based rates on email
    summed = rerate(daily.lazy(), ["day"]).collect().row(0, named=True)
    assert (summed["open_rate"], summed["click_to_open"]) == pytest.approx((2 / 4, 1 / 2))


def test_empty_events_give_empty_tables() -> None:
    empty = EventLog().add("open", 1, at(D1)).frame().clear().lazy()
    assert compute_daily_kpis(empty).height == 0
    overall = rollup_kpis(empty)["overall"].row(0, named=True)
    assert overall["sends"] == 0 and overall["open_rate"] is None


def _lake_with_three_days(lake: Lake, engine: Engine) -> None:
    log = EventLog()
    for i, day in enumerate((D1, D2, D3)):
        for c in range(10):
            log.add("send", c, at(day, 8), event_id=f"s{i}-{c}")
            log.add("deliver", c, at(day, 8, 1), event_id=f"d{i}-{c}")
        log.add("open", 1, at(day, 9), event_id=f"o{i}")
    written = lake.write("events", log.frame())
    with transaction(engine) as session:
        record_partitions(session, "events", written)


def test_incremental_recomputes_only_touched_days(lake: Lake, sqlite_engine: Engine) -> None:
    _lake_with_three_days(lake, sqlite_engine)
    with transaction(sqlite_engine) as session:
        days = touched_days(session, lake)
    assert days == [D1, D2, D3]
    written, _ = recompute_daily_kpis(lake, days, {1}, NOW)
    with transaction(sqlite_engine) as session:
        record_partitions(session, "kpis_daily", written)
    with transaction(sqlite_engine) as session:
        assert touched_days(session, lake) == []
        assert touched_days(session, lake, D2, D3, full=True) == [D2, D3]

    # late events for day 2 land: only day 2 is touched, and its KPIs change
    extra = (
        EventLog().add("open", 2, at(D2, 20), event_id="late-1").add("open", 3, at(D2, 21), event_id="late-2")
    )
    later = lake.write("events", extra.frame(), mode="merge")
    with transaction(sqlite_engine) as session:
        record_partitions(session, "events", later)
        days = touched_days(session, lake)
    assert days == [D2]
    before = lake.read_partition("kpis_daily", D1)
    recompute_daily_kpis(lake, days, {1}, NOW)
    assert lake.read_partition("kpis_daily", D2).row(0, named=True)["unique_opens"] == 3
    assert lake.read_partition("kpis_daily", D1).equals(before)


def test_unrecorded_event_partitions_are_still_picked_up(lake: Lake, sqlite_engine: Engine) -> None:
    lake.write("events", EventLog().add("open", 1, at(D1)).frame())
    with transaction(sqlite_engine) as session:
        assert touched_days(session, lake) == [D1]


def test_bad_events_are_kept_out_of_the_daily_table(lake: Lake) -> None:
    log = EventLog()
    log.add("open", 1, at(D1), event_id="a").add("open", 2, at(D1), campaign=99, event_id="b")
    log.add("convert", 3, at(D1), revenue=-5.0, event_id="c")
    lake.write("events", log.frame())
    lake.write("events", EventLog().add("open", 4, at(D2), event_id="a").frame())  # copy of 'a' a day later
    written, report = recompute_daily_kpis(lake, [D2], {1}, NOW)
    assert written == {D2: 0}  # the only event of day 2 is a duplicate
    assert lake.read_partition("kpis_daily", D2).height == 0
    assert report.filter(pl.col("rows") > 0).select("day", "issue", "rows").rows() == [
        (D2, "duplicate_event_id", 1)
    ]
    written, report = recompute_daily_kpis(lake, [D1], {1}, NOW)
    day1 = lake.read_partition("kpis_daily", D1)
    assert day1.get_column("unique_opens").sum() == 1 and day1.get_column("revenue").sum() == 0.0
    assert dict(report.select("issue", "rows").iter_rows()) == {
        "duplicate_event_id": 0,
        "future_timestamp": 0,
        "negative_revenue": 1,
        "unknown_campaign": 1,
    }
    assert lake.read_partition("event_quality", D1).get_column("rows").sum() == 2


def test_days_after_now_are_future_events(lake: Lake) -> None:
    lake.write("events", EventLog().add("open", 1, NOW + timedelta(hours=3)).frame())
    _, report = recompute_daily_kpis(lake, [NOW.date()], {1}, NOW)
    assert report.filter(pl.col("issue") == "future_timestamp").get_column("rows").to_list() == [1]
