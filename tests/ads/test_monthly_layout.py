"""``ad_spend`` keeps one file per calendar month: imports across a month's end, reimports,
lakes written with one file per day (read as they are, merged on the month's first write, never
a row lost or doubled), and retention cutting part of a month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine

from aicmo.models.lake import AD_SPEND, TABLES
from aicmo.settings import RetentionSettings
from aicmo.storage.lake import Lake, conform
from aicmo.tasks.ads.importer import import_reports
from aicmo.tasks.analytics.kpis import recompute_daily_kpis
from aicmo.tasks.retention.policy import apply_retention
from tests.analytics.kpi_helpers import spend, synthetic_events

HEADER = "date,platform,account,campaign,ad_set,spend,currency\n"


def _report(path: Path, rows: list[tuple[str, str, str, float]]) -> Path:
    """A generic report: (day, account, ad set, spend) rows of bing campaign A in USD."""
    path.write_text(HEADER + "".join(f"{d},bing,{a},A,{s},{v:.2f},USD\n" for d, a, s, v in rows))
    return path


def _files(lake: Lake) -> list[str]:
    table = Path(lake.table_path("ad_spend"))
    return sorted(str(p.relative_to(table)) for p in table.rglob("*") if p.is_file() and p.name != ".lock")


def _spend_by(lake: Lake, *keys: str) -> dict[tuple[object, ...], float]:
    frame = lake.scan("ad_spend").group_by(list(keys)).agg(pl.col("spend").sum()).collect()
    return {tuple(r[:-1]): round(r[-1], 2) for r in frame.iter_rows()}


def _legacy_day_files(lake: Lake, rows: pl.DataFrame) -> None:
    """``ad_spend`` as the daily layout wrote it: ``dt=<day>/part-0.parquet`` per day."""
    for (day,), part in conform(rows, TABLES["ad_spend"]).partition_by("date", as_dict=True).items():
        assert isinstance(day, date)
        folder = Path(lake.table_path("ad_spend")) / f"dt={day.isoformat()}"
        folder.mkdir(parents=True)
        part.write_parquet(folder / "part-0.parquet")


def test_an_import_across_a_month_end_writes_one_file_per_month(lake: Lake, tmp_path: Path) -> None:
    days = ["2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02"]
    report = _report(tmp_path / "r.csv", [(d, "42", "x", i + 1.0) for i, d in enumerate(days)])
    result = import_reports([report], lake)
    assert result.rows_written == 4 and result.days_written == 4
    assert _files(lake) == ["dt=2026-10-01/month.parquet", "dt=2026-11-01/month.parquet"]
    assert lake.partitions("ad_spend") == [date.fromisoformat(d) for d in days]
    both = lake.scan("ad_spend", date(2026, 10, 31), date(2026, 11, 1)).collect().sort("date")
    assert both["dt"].to_list() == both["date"].to_list() == [date(2026, 10, 31), date(2026, 11, 1)]
    assert both["spend"].to_list() == [2.0, 3.0]
    assert lake.read_partition("ad_spend", date(2026, 11, 2))["spend"].to_list() == [4.0]


def test_reimporting_a_range_across_months_replaces_only_its_days_and_account(
    lake: Lake, tmp_path: Path
) -> None:
    first = [(f"2026-10-{d}", a, "x", 10.0) for d in (29, 30, 31) for a in ("42", "7")]
    first += [(f"2026-11-0{d}", a, "x", 10.0) for d in (1, 2, 3) for a in ("42", "7")]
    import_reports([_report(tmp_path / "first.csv", first)], lake)
    again = [("2026-10-31", "42", "x", 1.0), ("2026-11-01", "42", "x", 2.0), ("2026-11-01", "42", "y", 4.0)]
    result = import_reports([_report(tmp_path / "again.csv", again)], lake)
    assert result.rows_replaced == 2 and result.rows_written == 3
    assert sorted(result.files[0].items())[-1] == ("start", date(2026, 10, 31))
    by_day = _spend_by(lake, "account", "date")
    assert by_day[("42", date(2026, 10, 30))] == 10.0 and by_day[("42", date(2026, 11, 2))] == 10.0
    assert by_day[("42", date(2026, 10, 31))] == 1.0 and by_day[("42", date(2026, 11, 1))] == 6.0
    assert all(by_day[("7", d)] == 10.0 for d in (date(2026, 10, 31), date(2026, 11, 1)))
    assert lake.scan("ad_spend").select(pl.len()).collect().item() == 13
    # The same reimport again changes nothing.
    import_reports([_report(tmp_path / "again.csv", again)], lake)
    assert _spend_by(lake, "account", "date") == by_day
    assert _files(lake) == ["dt=2026-10-01/month.parquet", "dt=2026-11-01/month.parquet"]


def _kpi_lake(lake: Lake, first: date, days: int) -> None:
    lake.write("events", synthetic_events(first, days, seed=3))
    _legacy_day_files(lake, spend([(first + timedelta(days=i), 2, 10.0 + i) for i in range(days)]))


def test_a_lake_with_daily_partitions_is_read_then_merged_into_months_with_kpis_unchanged(
    lake: Lake, tmp_path: Path
) -> None:
    first, n = date(2026, 2, 25), 10  # Feb 25 - Mar 6: two months of day files, Mar 1 among them
    _kpi_lake(lake, first, n)
    days = [first + timedelta(days=i) for i in range(n)]
    now = datetime(2026, 4, 1, tzinfo=UTC)
    assert lake.partitions("ad_spend") == days
    assert lake.scan("ad_spend").select(pl.col("spend").sum()).collect().item() == sum(
        10.0 + i for i in range(n)
    )
    recompute_daily_kpis(lake, days, {1, 2}, now)
    kpis = lake.scan("kpis_daily").collect().sort("day", "campaign_id", "channel")
    assert kpis["ad_spend"].sum() == pytest.approx(sum(10.0 + i for i in range(n)))

    # An import into March (another platform, another day) merges March's day files into its month.
    import_reports([_report(tmp_path / "march.csv", [("2026-03-20", "42", "x", 5.0)])], lake)
    feb = [f"dt=2026-02-{d}/part-0.parquet" for d in (25, 26, 27, 28)]
    assert _files(lake) == [*feb, "dt=2026-03-01/month.parquet"]
    assert lake.partitions("ad_spend") == [*days, date(2026, 3, 20)]
    rows = lake.scan("ad_spend").collect()
    assert rows.height == n + 1 and rows.select(pl.struct("date", "platform").n_unique()).item() == n + 1
    recompute_daily_kpis(lake, days, {1, 2}, now)
    after = lake.scan("kpis_daily").collect().sort("day", "campaign_id", "channel")
    assert after["ad_spend"].to_list() == kpis["ad_spend"].to_list()
    assert_frame_equal(after, kpis)  # float sums of the events may differ in their last bits


def test_a_merge_killed_before_the_day_files_are_deleted_loses_and_doubles_nothing(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = date(2026, 3, 1)
    _legacy_day_files(lake, spend([(first + timedelta(days=i), 2, 1.0) for i in range(5)]))
    removed: list[str] = []

    def killed(self: Lake, path: str) -> None:
        removed.append(path)
        raise KeyboardInterrupt  # the run dies right after the month file's rename

    monkeypatch.setattr(Lake, "_remove", killed)
    with pytest.raises(KeyboardInterrupt):
        lake.write("ad_spend", spend([(date(2026, 3, 9), 3, 100.0)]))
    monkeypatch.undo()
    assert len(removed) == 1
    assert "dt=2026-03-01/month.parquet" in _files(lake) and len(_files(lake)) == 6  # day files left over
    assert lake.scan("ad_spend").select(pl.len(), pl.col("spend").sum()).collect().row(0) == (6, 105.0)
    assert lake.partitions("ad_spend") == [*(first + timedelta(days=i) for i in range(5)), date(2026, 3, 9)]
    lake.write("ad_spend", spend([(date(2026, 3, 10), 3, 1.0)]))  # the next write clears them
    assert _files(lake) == ["dt=2026-03-01/month.parquet"]
    assert lake.scan("ad_spend").select(pl.len(), pl.col("spend").sum()).collect().row(0) == (7, 106.0)


def test_retention_cuts_the_expired_days_out_of_a_month_and_keeps_the_rest(
    engine: Engine, lake: Lake
) -> None:
    first = date(2026, 2, 25)
    lake.write("ad_spend", spend([(first + timedelta(days=i), 2, 1.0) for i in range(20)]))  # to Mar 16
    settings = RetentionSettings(lake_days={"ad_spend": 10})
    today = date(2026, 3, 20)  # expired: before Mar 10
    lines = apply_retention(engine, lake, settings, today, apply=True)
    line = next(x for x in lines if x.target == "ad_spend")
    assert (line.rows, line.partitions) == (13, 13)  # Feb 25 - Mar 9
    assert lake.partitions("ad_spend") == [date(2026, 3, d) for d in range(10, 17)]
    assert _files(lake) == ["dt=2026-03-01/month.parquet"]  # February gone, March trimmed
    again = next(
        x for x in apply_retention(engine, lake, settings, today, apply=True) if x.target == "ad_spend"
    )
    assert (again.rows, again.partitions) == (0, 0)


def test_day_level_lake_methods_act_on_one_day_inside_its_month(lake: Lake) -> None:
    lake.write("ad_spend", spend([(date(2026, 5, d), 2, float(d)) for d in (1, 2, 3)]))
    lake.write_partition("ad_spend", date(2026, 5, 2), spend([(date(2026, 5, 2), 4, 20.0)]))
    assert _spend_by(lake, "date") == {
        (date(2026, 5, 1),): 1.0,
        (date(2026, 5, 2),): 20.0,
        (date(2026, 5, 3),): 3.0,
    }
    lake.write_partition("ad_spend", date(2026, 5, 3), spend([(date(2026, 5, 3), 5, 7.0)]), mode="merge")
    assert lake.read_partition("ad_spend", date(2026, 5, 3))["spend"].sort().to_list() == [3.0, 7.0]
    lake.drop_partition("ad_spend", date(2026, 5, 1))
    assert lake.partitions("ad_spend") == [date(2026, 5, 2), date(2026, 5, 3)]
    changed = lake.rewrite_partitions(
        "ad_spend", lambda df: df.with_columns(pl.col("spend") * 2), [date(2026, 5, 3)]
    )
    assert changed == {date(2026, 5, 3): (2, 2)}
    assert [(d, f.height) for d, f in lake.iter_partitions("ad_spend")] == [
        (date(2026, 5, 2), 1),
        (date(2026, 5, 3), 2),
    ]
    assert _spend_by(lake, "date") == {(date(2026, 5, 2),): 20.0, (date(2026, 5, 3),): 20.0}
    for day in (date(2026, 5, 2), date(2026, 5, 3)):
        lake.drop_partition("ad_spend", day)
    assert lake.partitions("ad_spend") == [] and _files(lake) == []
    assert lake.scan("ad_spend").collect().schema == pl.Schema({**AD_SPEND, "dt": pl.Date})


def test_a_file_that_goes_back_to_a_month_it_left_adds_up_as_a_whole_read(lake: Lake, tmp_path: Path) -> None:
    """A month staged when the file moved on is read back and added to when the file returns."""
    rows = [("2026-10-30", "42", "x", 1.0), ("2026-11-01", "42", "x", 2.0), ("2026-11-02", "42", "x", 4.0)]
    rows += [("2026-10-30", "42", "x", 8.0), ("2026-10-31", "42", "x", 16.0), ("2026-11-01", "42", "y", 32.0)]
    path = _report(tmp_path / "zigzag.csv", rows)
    whole = Lake(str(tmp_path / "whole"))
    import_reports([path], whole)
    report = import_reports([path], lake, chunk_bytes=40)  # about two records per chunk
    assert report.days_written == 4 and report.rejected_rows == 0
    assert _spend_by(lake, "date", "ad_set") == _spend_by(whole, "date", "ad_set")
    assert _spend_by(lake, "date", "ad_set") == {
        (date(2026, 10, 30), "x"): 9.0,
        (date(2026, 10, 31), "x"): 16.0,
        (date(2026, 11, 1), "x"): 2.0,
        (date(2026, 11, 1), "y"): 32.0,
        (date(2026, 11, 2), "x"): 4.0,
    }
    assert _files(lake) == ["dt=2026-10-01/month.parquet", "dt=2026-11-01/month.parquet"]
