"""Daily KPI aggregation over the events lake: ours (Polars streaming) vs DuckDB SQL vs pandas.

What it times: the group-by that produces ``kpis_daily`` from events already clean (counts per
event type, distinct openers and clickers, revenue and cost per day x campaign x channel, then the
rates). It does not time the aggregate flow's event-quality pass (duplicate ids, future
timestamps, negative revenue, unknown campaigns) nor its ad-spend join: the generated events
have none of those, and the peers compute none of them, so the benchmark is named for the part
all three do.

Generates ``--events`` events with numpy straight into the lake's layout
(``events/dt=YYYY-MM-DD/part-0.parquet``, zstd, the lake's schema, via ``Lake.write_partition``)
under ``benchmarks/.data``, once per size, then runs each engine ``--runs`` times in its own
child process (so its peak RSS is its own) on the same files:

- ours: ``aicmo.tasks.analytics.kpis.compute_daily_kpis(lake.scan("events"))`` (the day is the
  hive ``dt`` column; ours also computes the channel-scoped and human-only columns the peers skip);
- duckdb: the same KPIs in SQL over ``read_parquet(..., hive_partitioning = true)``, the day read
  from the hive ``dt`` column as ours does (counts with FILTER, uniques from a DISTINCT);
- pandas: ``read_parquet`` of the needed columns, the day as ``ts.dt.floor("D")``, ``groupby``;
  on ``--pandas-events`` events (the first days' files) when the full size would not fit in
  memory; ours and DuckDB are timed on that subset too, so the pandas ratio compares equal work.

Every engine's output is checked against ours (all counts, distinct counts and revenue per group)
before its runs are reported.

    .venv/bin/python benchmarks/bench_kpis.py --events 50000000 --pandas-events 5000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from results import Recorder, Run, measure

DATA = Path(os.environ.get("AICMO_BENCH_DATA", Path(__file__).parent / ".data"))
TYPES = ["send", "deliver", "bounce", "open", "click", "convert", "unsubscribe", "complaint"]
TYPE_P = [0.34, 0.32, 0.02, 0.17, 0.1, 0.02, 0.02, 0.01]
CHANNELS = ["email", "sms", "push", "webhook", "ads", "organic", "social", "search", "direct"]
FIRST_DAY = date(2026, 1, 1)
COUNTS = ["sends", "deliveries", "bounces", "opens", "clicks", "conversions", "unsubscribes", "complaints"]
CHECK = [*COUNTS, "unique_opens", "unique_clicks"]


def lake_root(events: int, days: int) -> Path:
    return DATA / f"kpi_{events}_{days}d"


def generate(events: int, days: int, seed: int = 42) -> Path:
    """Write ``events`` events over ``days`` days into a lake under benchmarks/.data (once)."""
    from aicmo.storage.lake import Lake

    root = lake_root(events, days)
    done = root / "DONE"
    if done.exists():
        return root
    lake = Lake(str(root))
    rng = np.random.default_rng(seed)
    per_day = events // days
    types = pl.Series("type", TYPES)
    channels = pl.Series("channel", CHANNELS)
    started = time.perf_counter()
    for i in range(days):
        n = per_day if i < days - 1 else events - per_day * (days - 1)
        day = FIRST_DAY + timedelta(days=i)
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        campaign = rng.integers(1, 301, n)
        kind = rng.choice(len(TYPES), n, p=TYPE_P)
        is_convert = kind == TYPES.index("convert")
        is_send = kind == TYPES.index("send")
        df = pl.DataFrame(
            {
                "event_id": pl.int_range(i * per_day, i * per_day + n, eager=True).cast(pl.String),
                "ts": pl.Series(rng.integers(0, 86_400_000_000, n)).cast(pl.Duration("us")) + base,
                "contact_id": rng.integers(1, 2_000_001, n),
                "campaign_id": campaign,
                "channel": channels.gather(campaign % len(CHANNELS)),
                "type": types.gather(kind),
                "revenue": np.where(is_convert, rng.gamma(2.0, 40.0, n), np.nan),
                "cost": np.where(is_send, 0.001, np.nan),
            }
        ).with_columns(pl.col("revenue").fill_nan(None), pl.col("cost").fill_nan(None))
        lake.write_partition("events", day, df)
        print(f"  generated {day} ({n:,} events) {time.perf_counter() - started:.0f}s", file=sys.stderr)
    done.write_text("ok")
    return root


# ---- engines (each runs in a child process) -----------------------------------------------------
def run_ours(root: Path, days: int) -> pl.DataFrame:
    from aicmo.storage.lake import Lake
    from aicmo.tasks.analytics.kpis import compute_daily_kpis

    lake = Lake(str(root))
    last = FIRST_DAY + timedelta(days=days - 1)
    return compute_daily_kpis(lake.scan("events", FIRST_DAY, last))


# Two phases, as one would write it for DuckDB: count(DISTINCT ...) FILTER in the main GROUP BY
# was 4x slower here (distinct aggregates do not parallelise), so uniques come from a DISTINCT.
DUCKDB_SQL = """
WITH ev AS (
  SELECT dt AS day, campaign_id, channel, type, contact_id, revenue, cost
  FROM read_parquet({files}, hive_partitioning = true)
),
c AS (
  SELECT day, campaign_id, channel,
    {counts},
    sum(coalesce(revenue, 0)) AS revenue,
    sum(coalesce(cost, 0)) AS cost
  FROM ev GROUP BY ALL
),
u AS (
  SELECT day, campaign_id, channel,
    count(*) FILTER (WHERE type = 'open') AS unique_opens,
    count(*) FILTER (WHERE type = 'click') AS unique_clicks
  FROM (
    SELECT DISTINCT day, campaign_id, channel, type, contact_id FROM ev
    WHERE type IN ('open', 'click') AND contact_id IS NOT NULL
  ) GROUP BY ALL
)
SELECT c.*, coalesce(u.unique_opens, 0) AS unique_opens, coalesce(u.unique_clicks, 0) AS unique_clicks
FROM c LEFT JOIN u USING (day, campaign_id, channel)
"""
DUCKDB_RATES = """
SELECT *,
  deliveries / NULLIF(sends, 0) AS delivery_rate,
  bounces / NULLIF(sends, 0) AS bounce_rate,
  unique_opens / NULLIF(deliveries, 0) AS open_rate,
  unique_clicks / NULLIF(deliveries, 0) AS ctr,
  unique_clicks / NULLIF(unique_opens, 0) AS click_to_open,
  conversions / NULLIF(unique_clicks, 0) AS conversion_rate,
  unsubscribes / NULLIF(deliveries, 0) AS unsubscribe_rate,
  cost / NULLIF(conversions, 0) AS cpa,
  revenue / NULLIF(cost, 0) AS roas,
  (revenue - cost) / NULLIF(cost, 0) AS roi
FROM ({inner}) ORDER BY day, campaign_id, channel
"""


def _files(root: Path, days: int) -> list[str]:
    return [
        str(root / "events" / f"dt={FIRST_DAY + timedelta(days=i)}" / "part-0.parquet") for i in range(days)
    ]


def run_duckdb(root: Path, days: int) -> pl.DataFrame:
    import duckdb

    counts = ",\n  ".join(
        f"count(*) FILTER (WHERE type = '{t}') AS {name}" for name, t in zip(COUNTS, TYPES, strict=True)
    )
    inner = DUCKDB_SQL.format(counts=counts, files=repr(_files(root, days)))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return pl.from_arrow(con.sql(DUCKDB_RATES.format(inner=inner)).to_arrow_table())  # type: ignore[return-value]


def run_pandas(root: Path, days: int) -> pl.DataFrame:
    import pandas as pd

    cols = ["ts", "contact_id", "campaign_id", "channel", "type", "revenue", "cost"]
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in _files(root, days)], ignore_index=True)
    df["day"] = df["ts"].dt.floor("D")
    keys = ["day", "campaign_id", "channel"]
    counts = df.groupby([*keys, "type"], observed=True).size().unstack("type", fill_value=0)
    counts = counts.reindex(columns=TYPES, fill_value=0)
    counts.columns = COUNTS
    uniques = []
    for kind, name in (("open", "unique_opens"), ("click", "unique_clicks")):
        sub = df.loc[(df["type"] == kind) & df["contact_id"].notna(), [*keys, "contact_id"]]
        uniques.append(sub.groupby(keys, observed=True)["contact_id"].nunique().rename(name))
    money = df.groupby(keys, observed=True)[["revenue", "cost"]].sum(min_count=0)
    out = pd.concat([counts, *uniques, money], axis=1).fillna({"unique_opens": 0, "unique_clicks": 0})
    out = out.reset_index()
    out["day"] = out["day"].dt.tz_localize(None).astype("datetime64[s]")

    def ratio(num: str, den: str) -> pd.Series:
        d = out[den].astype("float64")
        return out[num].astype("float64") / d.where(d > 0)

    for name, (num, den) in {
        "delivery_rate": ("deliveries", "sends"),
        "open_rate": ("unique_opens", "deliveries"),
        "ctr": ("unique_clicks", "deliveries"),
        "click_to_open": ("unique_clicks", "unique_opens"),
        "conversion_rate": ("conversions", "unique_clicks"),
        "cpa": ("cost", "conversions"),
        "roas": ("revenue", "cost"),
    }.items():
        out[name] = ratio(num, den)
    return pl.from_pandas(out)


ENGINES = {"ours": run_ours, "duckdb": run_duckdb, "pandas": run_pandas}


def worker(engine: str, root: Path, days: int, runs: int, out: Path) -> None:
    """Time ``runs`` runs of one engine; write each run's wall, CPU and peak RSS and the result to ``out``."""
    if engine == "ours":  # imports outside the timings
        import aicmo.tasks.analytics.kpis  # noqa: F401
    elif engine == "duckdb":
        import duckdb  # noqa: F401
    else:
        import pandas  # noqa: F401
    measured: list[Run] = []
    result = pl.DataFrame()
    for _ in range(runs):
        result, run = measure(lambda: ENGINES[engine](root, days))
        measured.append(run)
    result.write_parquet(out.with_suffix(".parquet"))
    out.write_text(json.dumps({"engine": engine, "runs": [vars(r) for r in measured], "rows": result.height}))


def run_engine(engine: str, root: Path, days: int, runs: int, in_process: bool = False) -> dict[str, Any]:
    """One engine's runs, in a child process (its own peak memory) unless ``in_process``."""
    out = DATA / f"result_{engine}_{days}.json"
    if in_process:
        worker(engine, root, days, runs, out)
        report = json.loads(out.read_text())
        report["runs"] = [Run(**r) for r in report["runs"]]
        report["result"] = pl.read_parquet(out.with_suffix(".parquet"))
        return report
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        engine,
        "--root",
        str(root),
        "--days",
        str(days),
        "--runs",
        str(runs),
    ]
    subprocess.run([*cmd, "--out", str(out)], check=True)
    report = json.loads(out.read_text())
    report["runs"] = [Run(**r) for r in report["runs"]]
    report["result"] = pl.read_parquet(out.with_suffix(".parquet"))
    return report


def check_same(ours: pl.DataFrame, other: pl.DataFrame) -> bool:
    """Counts, distinct counts and revenue per group must agree exactly (revenue to 1e-6)."""
    keys = ["day", "campaign_id", "channel"]
    a = ours.select(pl.col("day").cast(pl.Date), *keys[1:], *CHECK, "revenue").sort(keys)
    b = other.select(
        pl.col("day").cast(pl.Date),
        *keys[1:],
        *[pl.col(c).cast(pl.Int64) for c in CHECK],
        pl.col("revenue").fill_null(0.0),
    ).sort(keys)
    same_keys = a.height == b.height and a.select(keys).equals(b.select(keys))
    same_counts = same_keys and a.select(CHECK).equals(b.select(CHECK))
    same_money = same_counts and np.allclose(
        a["revenue"].to_numpy(), b["revenue"].to_numpy(), rtol=1e-9, atol=1e-6
    )
    return same_money


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--pandas-events", type=int, default=5_000_000, help="pandas runs on this many events"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--worker", choices=list(ENGINES))
    parser.add_argument("--root", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--in-process", action="store_true", help="no child processes (smoke test only)")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.root, args.days, args.runs, args.out)
        return

    root = generate(args.events, args.days)
    size_mb = sum(f.stat().st_size for f in (root / "events").rglob("*.parquet")) / 1e6
    for f in (root / "events").rglob("*.parquet"):  # warm the page cache for every engine alike
        f.read_bytes()
    rec = Recorder(
        "kpis",
        "Daily KPI aggregation: ours vs DuckDB and pandas",
        f"{args.events:,} events over {args.days} day partitions ({size_mb:.0f} MB of zstd Parquet) grouped per "
        "day x campaign x channel: counts per type, distinct openers and clickers, revenue, cost, rates. Events "
        "already clean: the aggregate flow's quality pass and ad-spend join are not timed (see the script). "
        "Each engine runs in its own process.",
        vars(args),
    )
    unit = "events"
    sub_days = max(1, round(args.days * args.pandas_events / args.events))
    sub_events = args.events // args.days * sub_days
    sizes = [(args.days, args.events, ("ours", "duckdb"))]
    if sub_days < args.days:
        sizes.append((sub_days, sub_events, ("ours", "duckdb", "pandas")))
    else:
        sizes = [(args.days, args.events, ("ours", "duckdb", "pandas"))]
    labels = {
        "ours": "ours: compute_daily_kpis (Polars streaming)",
        "duckdb": "DuckDB SQL (hive dt)",
        "pandas": 'pandas groupby (ts.dt.floor("D"))',
    }
    for days, events, engines in sizes:
        results = {e: run_engine(e, root, days, args.runs, args.in_process) for e in engines}
        for e in engines:
            if e != "ours":
                rec.check(
                    f"{labels[e]} vs ours on {events:,} events: keys, counts, distinct counts, revenue",
                    "counts exact, revenue 1e-9 relative",
                    check_same(results["ours"]["result"], results[e]["result"]),
                )
        for e in engines:
            for run in results[e]["runs"]:
                rec.add(labels[e], "ours" if e == "ours" else "peer", "daily KPIs", events, unit, run)
        for e in engines[1:]:
            rec.ratio(labels[e], labels["ours"], "daily KPIs", events)
    rec.save(polars=pl.__version__)


if __name__ == "__main__":
    main()
