"""Report import: hand-written exports in each platform's format, awkward values, reimports, errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from aicmo.errors import InputError
from aicmo.storage.lake import Lake
from aicmo.tasks.ads.importer import ImportReport, import_reports, total_bytes
from aicmo.tasks.ads.report_reader import read_report
from aicmo.tasks.analytics.currency import load_rates_csv

DATA = Path(__file__).parent / "data"
GOOGLE_UTF16 = DATA / "google_ads_utf16_excel.csv"
GOOGLE_DAY_FIRST = DATA / "google_ads_utf8_day_first.csv"
META = DATA / "meta_ads_manager.csv"
GENERIC = DATA / "generic_linkedin.csv"
RATES = DATA / "rates.csv"


def test_google_excel_download_matches_its_own_total_row() -> None:
    report = read_report(GOOGLE_UTF16)
    rows = report.rows
    assert report.format.name == "google_ads" and report.warnings == [] and report.rejected == []
    assert (report.start, report.end) == (date(2026, 11, 1), date(2026, 11, 3))  # the date-range line
    # The file's "Total: Account" row says 16,738 impressions, 587 clicks, 520.79 spent, 19.50 conv.
    assert rows["impressions"].sum() == 16_738 and rows["clicks"].sum() == 587
    assert rows["spend"].sum() == pytest.approx(520.79)
    assert rows["conversions"].sum() == pytest.approx(19.5)
    assert rows["conversion_value"].sum() == pytest.approx(5022.85)
    phrase = rows.filter((pl.col("ad_set") == "Phrase match") & (pl.col("date") == date(2026, 11, 1)))
    assert phrase["conversions"].item() == 0  # " --" placeholder
    assert 'Shopping – Winter "Sale"' in rows["campaign"].to_list()
    assert set(rows["currency"]) == {"USD"} and set(rows["platform"]) == {"google_ads"}


def test_google_day_first_utf8_rejects_one_bad_row_and_keeps_the_rest() -> None:
    report = read_report(GOOGLE_DAY_FIRST)
    assert report.rejected_rows == 1
    assert report.rejected == [f"{GOOGLE_DAY_FIRST}: line 7: Conv. value is not a number"]
    assert report.warnings == [f"{GOOGLE_DAY_FIRST}: ignored unknown column(s): Labels"]
    rows = report.rows
    assert sorted(rows["date"].to_list()) == [date(2026, 11, 12), date(2026, 11, 13), date(2026, 11, 14)]
    assert rows["spend"].sum() == pytest.approx(373.52 - 24.20)
    assert set(rows["account"]) == {"123-456-7890"} and set(rows["currency"]) == {"EUR"}


def test_meta_export_drops_the_account_total_row_and_reads_currency_from_the_header() -> None:
    report = read_report(META)
    rows = report.rows
    assert report.format.name == "meta" and report.warnings == []
    assert rows.height == 4 and rows["spend"].sum() == pytest.approx(627.44)  # the account-total row
    assert rows["impressions"].sum() == 58_904 and rows["clicks"].sum() == 1_012
    assert set(rows["currency"]) == {"EUR"} and set(rows["account"]) == {"Acme EU"}
    assert "[red]Static[/red] C" in rows["ad"].to_list()


def test_ambiguous_dates_follow_the_day_first_choice_and_say_so(tmp_path: Path) -> None:
    path = tmp_path / "generic.csv"
    path.write_text(
        "date,platform,campaign,spend,currency\n03/11/2026,bing,Brand,10.00,USD\n04/11/2026,bing,Brand,11.00,USD\n"
    )
    us = read_report(path)
    eu = read_report(path, day_first=True)
    assert us.rows["date"].to_list() == [date(2026, 3, 11), date(2026, 4, 11)]
    assert eu.rows["date"].to_list() == [date(2026, 11, 3), date(2026, 11, 4)]
    assert "read month-first" in us.warnings[0] and "read day-first" in eu.warnings[0]


def test_import_converts_two_currencies_and_reimport_never_double_counts(lake: Lake) -> None:
    rates = load_rates_csv(RATES)
    first = import_reports([GOOGLE_UTF16, GOOGLE_DAY_FIRST, META, GENERIC], lake, rates=rates)
    assert first.rows_replaced == 0 and first.currencies == ["EUR", "GBP", "USD"]
    spend = lake.scan("ad_spend").collect()
    eur = spend.filter(pl.col("currency") == "EUR")
    # EUR at 1.08 until 2026-11-12, 1.10 from 2026-11-13 (nearest earlier rate)
    on_12 = eur.filter(pl.col("date") == date(2026, 11, 12))
    assert on_12["spend"].sum() == pytest.approx(on_12["spend_local"].sum() * 1.08)
    on_14 = eur.filter(pl.col("date") == date(2026, 11, 14))
    assert on_14["spend"].sum() == pytest.approx(on_14["spend_local"].sum() * 1.10)
    gbp = spend.filter(pl.col("currency") == "GBP")
    assert gbp["spend"].sum() == pytest.approx(gbp["spend_local"].sum() * 1.27)
    total = spend["spend"].sum()

    again = import_reports([META, GOOGLE_DAY_FIRST], lake, rates=rates)
    assert again.rows_replaced == again.rows_written
    assert lake.scan("ad_spend").collect()["spend"].sum() == pytest.approx(total)


def test_reimport_of_a_shorter_range_replaces_only_its_days_and_account(lake: Lake, tmp_path: Path) -> None:
    import_reports([GENERIC], lake, rates=load_rates_csv(RATES))
    other = tmp_path / "other_account.csv"
    other.write_text(
        "date,platform,account,campaign,spend,currency\n2026-11-13,linkedin,999,Other,5.00,USD\n"
    )
    import_reports([other], lake)
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(
        "date,platform,account,campaign,ad_set,ad,spend,currency\n"
        "2026-11-13,linkedin,5551234,B2B Leads,CFOs,Carousel A,100.00,USD\n"
    )
    result = import_reports([fixed], lake)
    assert result.rows_replaced == 2  # 2026-11-13's two rows of account 5551234
    rows = lake.scan("ad_spend").collect().sort("date", "account")
    day13 = rows.filter(pl.col("date") == date(2026, 11, 13))
    assert sorted(day13["account"].to_list()) == ["5551234", "999"]
    assert day13.filter(pl.col("account") == "5551234")["spend"].item() == 100.0
    assert rows.filter(pl.col("date") == date(2026, 11, 12)).height == 1  # outside the new range: kept


def test_foreign_currency_without_rates_is_an_error_naming_it(lake: Lake) -> None:
    with pytest.raises(InputError, match=r"amounts in EUR need rates to USD"):
        import_reports([META], lake)
    assert lake.partitions("ad_spend") == []


def test_currency_missing_from_rates_is_an_error_naming_it(lake: Lake, tmp_path: Path) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("date,currency,rate\n2026-01-01,EUR,1.1\n")
    with pytest.raises(InputError, match=r"unknown currency GBP"):
        import_reports([GENERIC], lake, rates=load_rates_csv(rates))


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no_cost.csv"
    path.write_text("Campaign report\nDay,Campaign,Ad group,Impr.,Clicks\n2026-11-03,Brand,Exact,100,5\n")
    with pytest.raises(InputError, match=r"lacks required column\(s\): spend \(Cost\)"):
        read_report(path)


def test_a_file_of_another_kind_says_what_it_looked_like() -> None:
    with pytest.raises(
        InputError, match=r"not a Google Ads, Meta Ads Manager or generic ad report.*'email,first_name"
    ):
        read_report(DATA / "contacts_not_a_report.csv")


def test_google_file_without_currency_needs_the_option(tmp_path: Path) -> None:
    path = tmp_path / "no_currency.csv"
    path.write_text('Day,Campaign,Impr.,Clicks,Cost\n2026-11-03,Brand,"1,000",5,12.50\n')
    assert "pass --currency" in read_report(path).rejected[0]
    rows = read_report(path, currency="SEK", account="111-222-3333").rows
    assert (rows["currency"].item(), rows["account"].item(), rows["impressions"].item()) == (
        "SEK",
        "111-222-3333",
        1000,
    )


def test_total_rows_go_but_a_campaign_named_totally_stays(tmp_path: Path) -> None:
    path = tmp_path / "campaign_first.csv"
    path.write_text(
        "Campaign report\n"
        '"Nov 3, 2026 - Nov 3, 2026"\n'
        "Campaign,Day,Currency code,Impr.,Clicks,Cost\n"
        "Totally New,2026-11-03,USD,100,5,10.00\n"
        "Brand,2026-11-03,USD,200,7,12.00\n"
        "Total: Campaigns,--,USD,300,12,22.00\n"
    )
    rows = read_report(path).rows
    assert sorted(rows["campaign"].to_list()) == ["Brand", "Totally New"]
    assert rows["spend"].sum() == pytest.approx(22.0)


def test_rows_repeating_a_key_are_summed(tmp_path: Path) -> None:
    path = tmp_path / "ads_without_ad_column.csv"
    path.write_text(
        "Day,Campaign,Ad group,Currency code,Impr.,Clicks,Cost,Conv.\n"
        "2026-11-03,Brand,Exact,USD,100,5,10.00,1\n"
        "2026-11-03,Brand,Exact,USD,300,7,12.50,0.5\n"
        "2026-11-03,Brand,Broad,USD,50,1,1.00,0\n"
    )
    rows = read_report(path).rows.sort("ad_set")
    assert rows["ad_set"].to_list() == ["Broad", "Exact"]
    exact = rows.row(1, named=True)
    assert (exact["impressions"], exact["clicks"], exact["spend"], exact["conversions"]) == (
        400,
        12,
        22.5,
        1.5,
    )


def test_an_import_over_new_and_existing_days_leaves_one_file_per_month_and_no_staging(
    lake: Lake, tmp_path: Path
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(
        "date,platform,account,campaign,ad_set,spend,currency\n"
        "2026-11-01,bing,42,A,x,1.00,USD\n2026-11-02,bing,42,A,x,2.00,USD\n"
    )
    import_reports([first], lake)
    wider = tmp_path / "wider.csv"
    wider.write_text(
        "date,platform,account,campaign,ad_set,spend,currency\n"
        "2026-11-02,bing,42,A,x,20.00,USD\n2026-11-03,bing,42,A,x,3.00,USD\n"
        "2026-11-03,bing,42,A,y,4.00,USD\n2026-11-04,bing,42,A,x,5.00,USD\n"
    )
    result = import_reports([wider], lake)
    assert result.rows_written == 4 and result.rows_replaced == 1 and result.days_written == 3
    assert lake.partitions("ad_spend") == [date(2026, 11, d) for d in (1, 2, 3, 4)]
    table = Path(lake.table_path("ad_spend"))
    assert sorted(p.name for p in table.iterdir() if p.name != ".lock") == ["dt=2026-11-01"]
    assert [p.name for p in (table / "dt=2026-11-01").iterdir()] == ["month.parquet"]
    spend = lake.scan("ad_spend").collect().group_by("date").agg(pl.col("spend").sum()).sort("date")
    assert spend["spend"].to_list() == [1.0, 20.0, 7.0, 5.0]


def test_bulk_day_write_keeps_the_first_of_rows_repeating_a_key(lake: Lake) -> None:
    rows = pl.DataFrame(
        {
            "date": [date(2026, 11, 1), date(2026, 11, 1), date(2026, 11, 2)],
            "platform": ["bing"] * 3,
            "account": ["42"] * 3,
            "campaign": ["A"] * 3,
            "ad_set": ["x"] * 3,
            "ad": [""] * 3,
            "spend": [1.0, 9.0, 2.0],
            "currency": ["USD"] * 3,
        }
    )
    assert lake.write_new_partitions("ad_spend", rows) == {date(2026, 11, 1): 1, date(2026, 11, 2): 1}
    assert lake.scan("ad_spend").collect().sort("date")["spend"].to_list() == [1.0, 2.0]


def _lake_rows(lake: Lake) -> pl.DataFrame:
    return (
        lake.scan("ad_spend")
        .collect()
        .drop("dt")
        .sort("date", "platform", "account", "campaign", "ad_set", "ad")
    )


@pytest.mark.parametrize("chunk_bytes", [64, 300])
def test_streamed_in_small_chunks_the_import_equals_reading_each_file_whole(
    tmp_path: Path, chunk_bytes: int
) -> None:
    """Chunks of a few lines (records cut anywhere, days split across chunks) change nothing."""
    rates = load_rates_csv(RATES)
    files = [GOOGLE_UTF16, GOOGLE_DAY_FIRST, META, GENERIC]
    whole, small = Lake(str(tmp_path / "whole")), Lake(str(tmp_path / "small"))
    one = import_reports(files, whole, rates=rates)
    many = import_reports(files, small, rates=rates, chunk_bytes=chunk_bytes)
    assert _lake_rows(small).equals(_lake_rows(whole))
    assert (many.rows_written, many.days_written, many.rejected_rows) == (
        one.rows_written,
        one.days_written,
        one.rejected_rows,
    )
    assert many.rejected == one.rejected and many.warnings == one.warnings and many.files == one.files
    assert many.spend == pytest.approx(one.spend)
    again = import_reports([META, GOOGLE_DAY_FIRST], small, rates=rates, chunk_bytes=chunk_bytes)
    assert again.rows_replaced == again.rows_written and _lake_rows(small).equals(_lake_rows(whole))


def test_repeated_keys_are_summed_and_counted_once_however_the_file_is_read(tmp_path: Path) -> None:
    """Three ads a day in a report without an ad column: one row per day in the lake, and the
    import reports those rows, not the file's lines, whether it is read whole or in chunks."""
    lines = [f"2026-11-{day:02d},bing,1,Brand,A,{ad},{ad}.25,USD" for day in range(1, 11) for ad in (1, 2, 3)]
    path = tmp_path / "three_ads_a_day.csv"
    path.write_text("date,platform,account,campaign,ad_set,clicks,spend,currency\n" + "\n".join(lines) + "\n")
    whole, small = Lake(str(tmp_path / "whole")), Lake(str(tmp_path / "small"))
    one = import_reports([path], whole)
    many = import_reports([path], small, chunk_bytes=64)
    assert _lake_rows(small).equals(_lake_rows(whole))
    assert _lake_rows(whole)["clicks"].to_list() == [6] * 10
    assert (one.rows_written, many.rows_written) == (10, 10)
    assert (one.files[0]["rows"], many.files[0]["rows"]) == (10, 10)


def test_streamed_file_out_of_day_order_with_quoted_line_breaks_adds_up(lake: Lake, tmp_path: Path) -> None:
    path = tmp_path / "unsorted.csv"
    path.write_text(
        "date,platform,account,campaign,ad_set,ad,clicks,spend,currency\n"
        '2026-11-02,bing,1,"Winter\nSale",A,x,1,1.00,USD\n'
        "2026-11-01,bing,1,Brand,A,x,2,2.00,USD\n"
        '2026-11-02,bing,1,"Winter\nSale",A,x,4,4.00,USD\n'  # the same key again: summed, as one read does
        "2026-11-01,bing,1,Brand,B,x,8,8.00,USD\n"
        "2026-11-02,bing,1,Brand,A,x,16,16.00,USD\n"
    )
    report = import_reports([path], lake, chunk_bytes=40)
    rows = _lake_rows(lake)
    assert report.days_written == 2 and rows["spend"].sum() == 31.0
    winter = rows.filter(pl.col("campaign") == "Winter\nSale")
    assert winter["clicks"].to_list() == [5] and winter["spend"].to_list() == [5.0]
    assert rows.height == 4


def test_streamed_file_failing_in_a_later_chunk_writes_nothing(lake: Lake, tmp_path: Path) -> None:
    path = tmp_path / "late_euros.csv"
    lines = [f"2026-11-{d:02d},bing,1,Brand,A,x,10.00,USD" for d in range(1, 20)]
    lines.append("2026-11-20,bing,1,Brand,A,x,10.00,EUR")
    path.write_text("date,platform,account,campaign,ad_set,ad,spend,currency\n" + "\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"amounts in EUR need rates to USD"):
        import_reports([path], lake, chunk_bytes=100)
    assert lake.partitions("ad_spend") == []
    assert not [p for p in Path(lake.table_path("ad_spend")).glob(".staging-*")]  # staging cleaned up


DECORATED_LATER = {
    # Later chunks reuse the first chunk's plain-number columns; a chunk where one of them holds
    # thousands separators, a placeholder or a bad value still reads each row as a whole read does.
    "plain first": (
        [f"2026-11-{d:02d},bing,1,Brand,A,x,{d},{d}.50,USD" for d in range(1, 15)],
        [
            '2026-11-15,bing,1,Brand,A,x,"1,200","1,234.50",USD',
            "2026-11-16,bing,1,Brand,A,x, --,2.00,USD",
            "2026-11-17,bing,1,Brand,A,x,7,lots,USD",
        ],
        {date(2026, 11, 15): (1200, 1234.5), date(2026, 11, 16): (0, 2.0)},
    ),
    # Later chunks reuse how the first chunk's text numbers were decorated (thousands separators);
    # a chunk with currency signs or bounds is read again with its own, not rejected.
    "thousands first": (
        [f'2026-11-{d:02d},bing,1,Brand,A,x,"1,{d:03d}","1,{d:03d}.50",USD' for d in range(1, 15)],
        [
            '2026-11-15,bing,1,Brand,A,x,"< 10","$1,234.50",USD',
            "2026-11-16,bing,1,Brand,A,x,3,€2.00,USD",
            '2026-11-17,bing,1,Brand,A,x,"2,000",n/a?,USD',
        ],
        {
            date(2026, 11, 14): (1014, 1014.5),
            date(2026, 11, 15): (10, 1234.5),
            date(2026, 11, 16): (3, 2.0),
        },
    ),
}


def _whole_and_streamed(
    lines: list[str], lake: Lake, tmp_path: Path
) -> tuple[ImportReport, ImportReport, pl.DataFrame]:
    """A generic file of ``lines`` imported whole into a lake of its own and in 100-byte chunks
    into ``lake``: both reports and ``lake``'s rows, checked equal to the whole read's."""
    path = tmp_path / "later_rows.csv"
    path.write_text(
        "date,platform,account,campaign,ad_set,ad,clicks,spend,currency\n" + "\n".join(lines) + "\n"
    )
    whole = import_reports([path], Lake(str(tmp_path / "whole")))
    report = import_reports([path], lake, chunk_bytes=100)
    rows = _lake_rows(lake)
    assert rows.equals(_lake_rows(Lake(str(tmp_path / "whole"))))
    return whole, report, rows


@pytest.mark.parametrize("case", list(DECORATED_LATER))
def test_streamed_file_whose_later_rows_decorate_numbers_unlike_its_first_rows(
    case: str, lake: Lake, tmp_path: Path
) -> None:
    """Read in 100-byte chunks and whole, the file gives the same lake rows and the same one
    reject (line 18's spend); the later rows' decorated numbers are read, not rejected."""
    first, later, expected = DECORATED_LATER[case]
    whole, report, rows = _whole_and_streamed(first + later, lake, tmp_path)
    assert (
        report.rejected_rows == whole.rejected_rows == 1
        and "line 18: spend is not a number" in report.rejected[0]
    )
    by_day = dict(zip(rows["date"].to_list(), rows.select("clicks", "spend").rows(), strict=True))
    assert {day: by_day[day] for day in expected} == expected


def test_streamed_iso_dates_read_typed_still_reject_a_bad_later_date_by_line(
    lake: Lake, tmp_path: Path
) -> None:
    """Later chunks of an ISO-dated file have their dates and plain numbers parsed by the CSV
    reader (with the placeholders the first chunk held); a later padded date still reads, an
    impossible one and an empty one are rejected by line, as a whole read does."""
    first = [f"2026-11-{d:02d},bing,1,Brand,A,x,{d if d % 3 else '--'},{d}.50,USD" for d in range(1, 15)]
    later = [
        "2026-11-15,bing,1,Brand,A,x,--,1.00,USD",
        " 2026-11-16 ,bing,1,Brand,A,x,4,2.00,USD",
        "2026-11-31,bing,1,Brand,A,x,5,3.00,USD",
        ",bing,1,Brand,A,x,6,4.00,USD",
        "2026-11-19,bing,1,Brand,A,x,7,5.00,USD",
    ]
    whole, report, rows = _whole_and_streamed(first + later, lake, tmp_path)
    assert report.rejected_rows == whole.rejected_rows == 2
    assert [r.split(": ", 1)[1] for r in report.rejected] == [
        "line 18: date (date) not a date",
        "line 19: date (date) not a date",
    ]
    by_day = dict(zip(rows["date"].to_list(), rows["clicks"].to_list(), strict=True))
    assert (by_day[date(2026, 11, 15)], by_day[date(2026, 11, 16)], by_day[date(2026, 11, 19)]) == (0, 4, 7)
    assert by_day[date(2026, 11, 3)] == 0 and rows.height == 17


@pytest.mark.parametrize("chunk_bytes", [None, 300])
def test_progress_counts_every_byte_of_every_file_once_as_it_is_read(
    tmp_path: Path, chunk_bytes: int | None
) -> None:
    """The progress display reaches its total (UTF-16, byte-order marks and a file whose dates
    make it be read whole included), in steps as the files are read."""
    files = [GOOGLE_UTF16, GOOGLE_DAY_FIRST, META, GENERIC]
    steps: list[int] = []
    import_reports(
        files,
        Lake(str(tmp_path)),
        rates=load_rates_csv(RATES),
        chunk_bytes=chunk_bytes,
        progress=steps.append,
    )
    assert sum(steps) == total_bytes(files) == sum(p.stat().st_size for p in files)
    assert len([n for n in steps if n]) >= len(files) + (len(files) if chunk_bytes else 0)
    assert total_bytes([*files, tmp_path / "missing.csv"]) == total_bytes(files)


@pytest.mark.parametrize("chunk_bytes", [None, 64])
def test_a_meta_row_spanning_several_days_stops_the_import_naming_its_line(
    lake: Lake, tmp_path: Path, chunk_bytes: int | None
) -> None:
    """An export without the daily breakdown (a row from the 1st to the 30th) cannot be split into
    days: the import says which line and how to export, and writes nothing, whether the row is in
    the first chunk or a later one."""
    path = tmp_path / "meta_monthly.csv"
    daily = [f"2026-11-{d:02d},2026-11-{d:02d},Brand,A,100,1.00" for d in range(1, 6)]
    path.write_text(
        "Reporting starts,Reporting ends,Campaign name,Ad set name,Impressions,Amount spent (USD)\n"
        + "\n".join([*daily, "2026-11-01,2026-11-30,Brand,B,200,2.00"])
        + "\n"
    )
    with pytest.raises(InputError, match=r"line 7 covers 2026-11-01 to 2026-11-30, not one day; export with"):
        import_reports([path], lake, chunk_bytes=chunk_bytes)
    assert lake.partitions("ad_spend") == []
