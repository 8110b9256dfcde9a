"""Ad-report import: a year of daily rows for ``--ad-sets`` ad sets in each format, ours end to end
(detection, parsing, normalization, currency, replacement write of the lake's ``ad_spend``, one
file per month)
beside ``pandas.read_csv`` with the equivalent options (parsing alone: encoding, separator,
preamble skipped, thousands separators, placeholders as NA, dates parsed).

Formats: Google Ads "CSV for Excel" (UTF-16, tab-separated, title and date-range lines, "Total:"
rows, `` --`` and ``< 10%``, dates like ``Nov 3, 2026``), a Meta Ads Manager export (UTF-8 with
BOM, account-total row, quoted thousands) and the generic CSV. Before timing, each format's
totals (rows, spend, impressions, clicks) from our lake and from pandas' frame are checked equal.

Peak memory is measured in a fresh process per format: the resident-set high-water mark during
the import minus the resident set just before it, against the file's size.

    .venv/bin/python benchmarks/bench_ads_import.py --ad-sets 1000 --days 365 --runs 3

``ours_parse`` times ours without the lake write (reading, normalization, currency) for the
like-for-like comparison with pandas' parsing. For the generic file, the ``floor`` is the least an
import can do with the stack's libraries within the memory target (1 MB chunks read by Polars
with the column types given, no cleaning or validation, and the monthly files written as the lake
writes them): how far ours is from it, and how far it is from pandas' parse alone.

Every run's wall and CPU seconds and peak memory (``results.py``) are recorded for ``make bench``:
contender x format, the format being the stage column.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import describe, machine
from results import Recorder, peer_versions

START = date(2025, 11, 1)
FLOOR = "floor: typed chunk reads + month files"
FLOOR_CHUNK_BYTES = 1024 * 1024
FORMATS = ("google_ads", "meta", "generic")


def _numbers(ad_sets: int, days: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = ad_sets * days
    impressions = rng.integers(0, 40_000, n)
    clicks = rng.binomial(impressions, 0.02)
    spend = np.round(clicks * rng.uniform(0.3, 2.0, n), 2)
    conversions = rng.binomial(clicks, 0.04)
    value = np.round(conversions * rng.uniform(20, 120, n), 2)
    return {
        "impressions": impressions,
        "clicks": clicks,
        "spend": spend,
        "conversions": conversions,
        "value": value,
    }


def _thousands(values: np.ndarray) -> list[str]:
    return [f"{int(v):,}" for v in values]


def write_files(folder: Path, ad_sets: int, days: int) -> dict[str, Path]:
    """One file per format with the same numbers (ad set i in campaign i // 10)."""
    nums = _numbers(ad_sets, days)
    day_list = [START + timedelta(days=d) for d in range(days)]
    rows_day = np.repeat(np.arange(days), ad_sets)
    rows_set = np.tile(np.arange(ad_sets), days)
    imps, clicks = _thousands(nums["impressions"]), nums["clicks"]
    spend, conv, value = nums["spend"], nums["conversions"], nums["value"]
    paths = {}

    # Google Ads UI "CSV for Excel": UTF-16, tabs.
    google = [
        "Ad group report",
        f"{day_list[0]:%B} {day_list[0].day}, {day_list[0].year} - {day_list[-1]:%B} {day_list[-1].day}, {day_list[-1].year}",
    ]
    google.append(
        "Day\tCampaign\tAd group\tCurrency code\tImpr.\tClicks\tCTR\tAvg. CPC\tCost\tConv.\tConv. value\tSearch impr. share"
    )
    labels = [f"{d:%b} {d.day}, {d.year}" for d in day_list]
    for i in range(len(rows_day)):
        c = clicks[i]
        google.append(
            f"{labels[rows_day[i]]}\tCampaign {rows_set[i] // 10} – Search\tAd group {rows_set[i]}\tUSD\t{imps[i]}\t{c}\t"
            f"{(c / max(nums['impressions'][i], 1)) * 100:.2f}%\t{spend[i] / c if c else 0:.2f}\t{spend[i]:,.2f}\t"
            f"{' --' if conv[i] == 0 else f'{conv[i]:.2f}'}\t{' --' if conv[i] == 0 else f'{value[i]:,.2f}'}\t< 10%"
        )
    google.append(
        f"Total: Account\t --\t --\tUSD\t{int(nums['impressions'].sum()):,}\t{int(clicks.sum())}\t --\t --\t{spend.sum():,.2f}\t --\t --\t --"
    )
    paths["google_ads"] = folder / "google_ads.csv"
    paths["google_ads"].write_bytes(("\n".join(google) + "\n").encode("utf-16"))

    # Meta Ads Manager: UTF-8 with BOM, commas, quoted thousands, account-total row first.
    meta = [
        "Reporting starts,Reporting ends,Account name,Campaign name,Ad set name,Ad name,Impressions,Link clicks,Amount spent (USD),Purchases,Purchases conversion value,Reach"
    ]
    meta.append(
        f'{day_list[0]},{day_list[-1]},,,,,"{int(nums["impressions"].sum()):,}",{int(clicks.sum())},{spend.sum():.2f},,,'
    )
    iso = [d.isoformat() for d in day_list]
    for i in range(len(rows_day)):
        d = iso[rows_day[i]]
        meta.append(
            f'{d},{d},Acme,Campaign {rows_set[i] // 10},Ad set {rows_set[i]},Ad {rows_set[i]},"{imps[i]}",{clicks[i]},{spend[i]:.2f},{conv[i]},{value[i]:.2f},"{imps[i]}"'
        )
    paths["meta"] = folder / "meta.csv"
    paths["meta"].write_bytes(b"\xef\xbb\xbf" + ("\n".join(meta) + "\n").encode("utf-8"))

    generic = [
        "date,platform,account,campaign,ad_set,ad,impressions,clicks,spend,conversions,conversion_value,currency"
    ]
    for i in range(len(rows_day)):
        generic.append(
            f"{iso[rows_day[i]]},bing,42,Campaign {rows_set[i] // 10},Ad set {rows_set[i]},,{nums['impressions'][i]},{clicks[i]},{spend[i]:.2f},{conv[i]},{value[i]:.2f},USD"
        )
    paths["generic"] = folder / "generic.csv"
    paths["generic"].write_text("\n".join(generic) + "\n")
    return paths


def ours(path: Path, lake_root: Path) -> None:
    """Ours end to end into a fresh lake folder: what ``aicmo ads import FILE`` does."""
    from aicmo.storage.lake import Lake
    from aicmo.tasks.ads.importer import import_reports

    import_reports([path], Lake(str(lake_root)))


def ours_totals(lake_root: Path) -> dict[str, float]:
    """Totals of what ours wrote (read back from the lake; not timed)."""
    from aicmo.storage.lake import Lake

    return _totals(Lake(str(lake_root)).scan("ad_spend").collect())


def _totals(frame: Any) -> dict[str, float]:
    """Rows, spend, impressions and clicks of a Polars frame in the lake's column names."""
    return {
        "rows": float(frame.height),
        "spend": round(float(frame["spend"].sum()), 2),
        "impressions": float(frame["impressions"].sum()),
        "clicks": float(frame["clicks"].sum()),
    }


def ours_parse(path: Path) -> int:
    """Ours without the lake write: detection, parsing, normalization, currency."""
    from aicmo.tasks.ads.importer import to_lake_rows
    from aicmo.tasks.ads.report_reader import read_report

    return to_lake_rows(read_report(path).rows, None, "USD").height


GENERIC_SCHEMA = {
    "date": "Date",
    **dict.fromkeys(("platform", "account", "campaign", "ad_set", "ad"), "String"),
    **dict.fromkeys(("impressions", "clicks", "spend", "conversions", "conversion_value"), "Float64"),
    "currency": "String",
}


def floor(path: Path, out: Path, chunk_bytes: int | None = None) -> None:
    """The least an import of the generic file can do with the stack's libraries within the memory
    target: the file in 1 MB chunks (the fastest size here that keeps its growth under 2x the
    file: about 1.8x; 2 MB chunks 2.6x), each read by Polars with the columns' types given (no cleaning,
    no validation, no currency, no replacement), a month's rows written as the lake writes
    ``ad_spend`` on a background thread once the file moves past the month."""
    from concurrent.futures import ThreadPoolExecutor

    import polars as pl

    from aicmo.models.lake import TABLES
    from aicmo.tasks.ads.report_reader import utf8_chunks

    schema = {name: getattr(pl, dtype) for name, dtype in GENERIC_SCHEMA.items()}
    level = TABLES["ad_spend"].compression_level
    out.mkdir(parents=True, exist_ok=True)
    month: Any = None
    held: list[Any] = []
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = []

        def flush() -> None:
            rows = pl.concat(held)
            target = out / f"{month:%Y-%m}.parquet"
            pending.append(
                writer.submit(rows.write_parquet, target, compression="zstd", compression_level=level)
            )
            held.clear()

        for i, piece in enumerate(utf8_chunks(path, chunk_bytes or FLOOR_CHUNK_BYTES)):
            frame = pl.read_csv(piece, schema=schema, has_header=False, skip_rows=1 if i == 0 else 0)
            low, high = frame["date"][0].replace(day=1), frame["date"][-1].replace(day=1)
            if low == high:  # a chunk within one month, the usual case: no split
                parts = [(low, frame)]
            else:
                frame = frame.with_columns(pl.col("date").dt.month_start().alias("month"))
                parts = [
                    (key, part)
                    for (key,), part in frame.partition_by(
                        "month", as_dict=True, maintain_order=True, include_key=False
                    ).items()
                ]
            for first, part in parts:
                if month is not None and first != month:
                    flush()
                month = first
                held.append(part)
        flush()
        for future in pending:
            future.result()


def floor_totals(out: Path) -> dict[str, float]:
    """Totals of what the floor wrote (read back; not timed)."""
    import polars as pl

    return _totals(pl.read_parquet(out / "*.parquet"))


def pandas_read(fmt: str, path: Path) -> Any:
    """``pandas.read_csv`` with the options that read the format as well as pandas can."""
    import pandas as pd

    if fmt == "google_ads":
        return pd.read_csv(
            path,
            encoding="utf-16",
            sep="\t",
            skiprows=2,
            thousands=",",
            na_values=[" --", "--"],
            parse_dates=["Day"],
            date_format="%b %d, %Y",
            engine="c",
        )
    if fmt == "meta":
        return pd.read_csv(
            path,
            encoding="utf-8-sig",
            thousands=",",
            parse_dates=["Reporting starts", "Reporting ends"],
            date_format="%Y-%m-%d",
            engine="c",
        )
    return pd.read_csv(path, parse_dates=["date"], date_format="%Y-%m-%d", engine="c")


def pandas_totals(fmt: str, frame: Any) -> dict[str, float]:
    """The same totals from pandas' frame (totals rows dropped as the formats define them)."""
    if fmt == "google_ads":
        frame = frame[~frame["Day"].astype(str).str.startswith("Total")]
        cols = ("Cost", "Impr.", "Clicks")
    elif fmt == "meta":
        frame = frame[frame["Campaign name"].notna()]
        cols = ("Amount spent (USD)", "Impressions", "Link clicks")
    else:
        cols = ("spend", "impressions", "clicks")
    return {
        "rows": float(len(frame)),
        "spend": round(float(frame[cols[0]].astype(float).sum()), 2),
        "impressions": float(frame[cols[1]].sum()),
        "clicks": float(frame[cols[2]].sum()),
    }


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def memory_child(path: str, lake_root: str, which: str = "ours") -> None:
    """Run one import (``which``: ours, or the floor) in this fresh process and print the
    resident-set growth (KiB)."""
    from aicmo.storage.lake import Lake
    from aicmo.tasks.ads.importer import import_reports

    # Warm up first (Polars' thread pool, first-use allocations) so the growth is the import's own.
    warm = Path(lake_root).with_name(Path(lake_root).name + "-warm")
    warm.mkdir(parents=True, exist_ok=True)
    tiny = warm / "tiny.csv"
    tiny.write_text(f"{','.join(GENERIC_SCHEMA)}\n2026-01-01,x,1,c,a,d,1,1,1.0,0,0.0,USD\n")
    import_reports([tiny], Lake(str(warm / "lake")))
    floor(tiny, warm / "floor")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    before = _rss_kib("VmRSS")
    if which == "floor":
        floor(Path(path), Path(lake_root))
    else:
        import_reports([Path(path)], Lake(lake_root))
    print(json.dumps({"before_kib": before, "peak_kib": _rss_kib("VmHWM")}))


def measure_memory(path: Path, lake_root: Path, which: str = "ours") -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(path), str(lake_root), which],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    growth_mb = (data["peak_kib"] - data["before_kib"]) / 1024
    size_mb = path.stat().st_size / 1024**2
    return {
        "file_mb": round(size_mb, 1),
        "peak_growth_mb": round(growth_mb, 1),
        "ratio": round(growth_mb / size_mb, 2),
    }


def _timed(fn: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _timed_rec(
    rec: Recorder, contender: str, role: str, fmt: str, rows: int, fn: Any, runs: int
) -> list[float]:
    """``runs`` measured calls of ``fn``, recorded under ``contender`` and ``fmt``; their wall seconds."""
    for _ in range(runs):
        rec.time(contender, role, fmt, rows, "rows", fn)
    return [r.seconds for r in rec.records[(contender, fmt, rows)].runs]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ad-sets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory-child", nargs=3, metavar=("FILE", "LAKE", "WHICH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    import pandas as pd
    import polars as pl

    print(describe(machine(polars=pl.__version__, pandas=pd.__version__)))
    results: dict[str, Any] = {}
    rec = Recorder(
        "ads_import",
        "Ad-report import: Google Ads, Meta and generic CSV exports, ours vs pandas.read_csv",
        f"{args.ad_sets:,} ad sets x {args.days} days of daily rows per format. Ours end to end: detection, "
        "parsing, normalization, currency and the replacement write of the lake's monthly `ad_spend` files; ours "
        "parse only: the same without the lake write; pandas: `read_csv` with the equivalent options "
        "(encoding, separator, preamble skipped, thousands separators, placeholders as NA, dates parsed), "
        "parsing alone; for the generic file, the floor: 1 MB chunks read by Polars with the column types "
        "given (no cleaning, no validation) and the monthly files written as the lake writes them. Each stage "
        "column is one export format.",
        {k: str(v) for k, v in vars(args).items() if k != "memory_child"},
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_files(folder, args.ad_sets, args.days)
        for fmt in FORMATS:
            path, lake_root = paths[fmt], folder / f"lake-{fmt}"
            ours(path, lake_root)
            mine, theirs = ours_totals(lake_root), pandas_totals(fmt, pandas_read(fmt, path))
            rec.check(
                f"{fmt}: rows, spend, impressions and clicks, our lake vs pandas' frame",
                "exact",
                mine == theirs,
                f"ours {mine}" + ("" if mine == theirs else f" vs pandas {theirs}"),
            )
            n = int(mine["rows"])
            fresh = iter(range(1, 1000))
            t_ours = _timed_rec(
                rec, "ours, import to lake", "ours", fmt, n,
                lambda path=path, fmt=fmt, fresh=fresh: ours(path, folder / f"lake-{fmt}-{next(fresh)}"),
                args.runs,
            )  # fmt: skip
            t_parse = _timed_rec(
                rec, "ours, parse only", "ours", fmt, n, lambda path=path: ours_parse(path), args.runs
            )
            t_pandas = _timed_rec(
                rec, "pandas.read_csv", "peer", fmt, n,
                lambda fmt=fmt, path=path: pandas_read(fmt, path), args.runs,
            )  # fmt: skip
            rec.ratio("pandas.read_csv", "ours, parse only", fmt, n)
            rec.ratio("pandas.read_csv", "ours, import to lake", fmt, n)
            if fmt == "generic":
                floor(path, folder / "floor-check")
                lowest = floor_totals(folder / "floor-check")
                rec.check(
                    "generic: rows, spend, impressions and clicks, the floor's files vs pandas' frame",
                    "exact",
                    lowest == theirs,
                    f"floor {lowest}" + ("" if lowest == theirs else f" vs pandas {theirs}"),
                )
                t_floor = _timed_rec(
                    rec, FLOOR, "reference", fmt, n,
                    lambda path=path, fresh=fresh: floor(path, folder / f"floor-{next(fresh)}"), args.runs,
                )  # fmt: skip
                rec.ratio("pandas.read_csv", FLOOR, fmt, n)
                rec.ratio(FLOOR, "ours, import to lake", fmt, n)
                floor_memory = measure_memory(path, folder / "floor-mem", "floor")
                rec.note(f"{fmt}: peak memory of the floor in a fresh process: {json.dumps(floor_memory)}")
                results["floor_s"] = [round(t, 3) for t in t_floor]
                results["floor_memory"] = floor_memory
            memory = measure_memory(path, folder / f"lake-mem-{fmt}")
            rec.note(f"{fmt}: peak memory of the import in a fresh process: {json.dumps(memory)}")
            results[fmt] = {
                "rows": int(mine["rows"]),
                "ours_s": [round(t, 3) for t in t_ours],
                "ours_parse_s": [round(t, 3) for t in t_parse],
                "pandas_s": [round(t, 3) for t in t_pandas],
                "ours_median_s": round(statistics.median(t_ours), 3),
                "pandas_median_s": round(statistics.median(t_pandas), 3),
                "ours_over_pandas": round(statistics.median(t_ours) / statistics.median(t_pandas), 2),
                "ours_parse_over_pandas": round(statistics.median(t_parse) / statistics.median(t_pandas), 2),
                **memory,
            }
            print(json.dumps({fmt: results[fmt]}), flush=True)
    rec.save(polars=pl.__version__, **peer_versions("pandas"))


if __name__ == "__main__":
    main()
