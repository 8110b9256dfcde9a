"""Bad events are found, counted per rule and kept out; clean events pass untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from aicmo.tasks.analytics.quality import ISSUES, clean, flag_events, markdown, quality_report, summarize
from tests.analytics.kpi_helpers import D1, D2, EventLog, at

NOW = datetime(2026, 3, 10, tzinfo=UTC)


def messy_log() -> EventLog:
    log = EventLog()
    log.add("open", 1, at(D1, 9), event_id="ok-1")
    log.add("open", 1, at(D1, 8), event_id="dup")  # first copy: clean
    log.add("open", 1, at(D1, 10), event_id="dup")  # later copy: duplicate
    log.add("open", 2, at(D1, 11), event_id="dup")  # and another
    log.add("open", 3, at(D1), campaign=404, event_id="ghost")  # unknown campaign
    log.add("convert", 4, at(D2), revenue=-20.0, event_id="refund")  # negative revenue
    log.add("open", 5, NOW + timedelta(days=2), event_id="later")  # in the future
    log.add("click", 6, at(D2), campaign=None, channel="organic", event_id="organic")  # no campaign: fine
    log.add("open", 7, NOW + timedelta(days=1), campaign=404, event_id="both")  # future wins over unknown
    return log


def test_each_rule_counts_its_rows_and_clean_keeps_the_rest() -> None:
    flagged = flag_events(messy_log().frame().lazy(), {1, 2}, NOW).collect()
    issues = dict(
        zip(
            flagged["event_id"] + "@" + flagged["ts"].dt.hour().cast(pl.String), flagged["issue"], strict=True
        )
    )
    assert (
        issues["dup@8"] is None
        and issues["dup@10"] == "duplicate_event_id"
        and issues["dup@11"] == "duplicate_event_id"
    )
    assert issues["ghost@9"] == "unknown_campaign"
    assert issues["refund@9"] == "negative_revenue"
    assert flagged.filter(pl.col("event_id") == "both")["issue"].item() == "future_timestamp"
    kept = clean(flagged.lazy()).collect()
    assert sorted(kept["event_id"].to_list()) == ["dup", "ok-1", "organic"]
    assert kept.columns == messy_log().frame().columns


def test_report_counts_per_day_and_in_total() -> None:
    report = quality_report(flag_events(messy_log().frame().lazy(), {1, 2}, NOW))
    totals = summarize(report)
    assert totals == {
        "duplicate_event_id": 2,
        "future_timestamp": 2,
        "negative_revenue": 1,
        "unknown_campaign": 1,
        "bad_rows": 6,
        "total_rows": 9,
    }
    assert set(report["issue"]) == set(ISSUES)  # zero rows are reported too
    text = markdown(report)
    assert "6 of 9 events" in text and "| unknown_campaign | 1 |" in text


def test_without_a_store_the_campaign_rule_is_skipped() -> None:
    flagged = flag_events(messy_log().frame().lazy(), None, NOW).collect()
    assert "unknown_campaign" not in flagged["issue"].to_list()
    assert flagged.filter(pl.col("event_id") == "ghost")["issue"].item() is None


def test_a_copy_in_another_partition_counts_as_duplicate() -> None:
    scope = EventLog().add("open", 1, at(D2, 9), event_id="x").add("open", 1, at(D2, 9), event_id="y").frame()
    elsewhere = pl.DataFrame(
        {
            "event_id": ["x", "y"],
            "ts": [at(D1, 9), at(D2 + timedelta(days=3), 9)],
            "dt": [D1, D2 + timedelta(days=3)],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    flagged = flag_events(scope.lazy(), {1}, NOW, elsewhere=elsewhere.lazy()).collect()
    assert dict(flagged.select("event_id", "issue").iter_rows()) == {"x": "duplicate_event_id", "y": None}
