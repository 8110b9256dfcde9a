"""Daily KPIs over the events lake: ours (Polars streaming) vs DuckDB SQL vs pandas, in two stages.

- KPI group-by: the group-by that produces ``kpis_daily`` from the events as they are (counts per
  event type, distinct openers and clickers, revenue, cost per day x campaign x channel). Ours is
  ``compute_daily_kpis(lake.scan("events"))``.
- flow query: the query the aggregate flow runs (``recompute_daily_kpis`` without its writes and
  its quality report): every event flagged (``flag_events``: a repeated ``event_id`` after its
  first copy across all days, timestamps after the time of the check, negative revenue, campaigns
  the store does not know), the clean rows aggregated, human-only open and click counts, and the
  ads channel's spend from the ``ad_spend`` table joined in (a full join: spend without events
  still gets a row; cost = event cost + ad spend). The peers do the same steps: DuckDB with a
  ``row_number()`` over ``event_id`` ordered by (ts, dt) and a ``FULL JOIN``; pandas with
  ``duplicated(keep="first")`` after a stable sort and an outer ``join``.

Generates ``--events`` events with numpy straight into the lake's layout
(``events/dt=YYYY-MM-DD/part-0.parquet``, zstd, the lake's schema, via ``Lake.write_partition``),
with the rows the quality pass removes (see :func:`generate`) and a day of ads spend per
partition, under ``benchmarks/.data``, once per size. Each engine runs ``--runs`` times in its
own child process (so its peak RSS is its own) on the same files. DuckDB reads the day from the
hive ``dt`` column (``hive_partitioning = true``) as ours does; pandas derives it with
``ts.dt.floor("D")`` (the same value by construction). pandas runs on ``--pandas-events`` events
(the first days' files) when the full size would not fit in memory; ours and DuckDB are timed on
that subset too, so the pandas ratio compares equal work. Ours also computes channel-scoped
columns the peers skip.

Every engine's output is checked against ours (groups, counts, distinct counts, money) before
its runs are reported.

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
from results import Recorder, Run, measure, peer_versions

DATA = Path(os.environ.get("AICMO_BENCH_DATA", Path(__file__).parent / ".data"))
TYPES = ["send", "deliver", "bounce", "open", "click", "convert", "unsubscribe", "complaint"]
TYPE_P = [0.34, 0.32, 0.02, 0.17, 0.1, 0.02, 0.02, 0.01]
CHANNELS = ["email", "sms", "push", "webhook", "ads", "organic", "social", "search", "direct"]
FIRST_DAY = date(2026, 1, 1)
COUNTS = ["sends", "deliveries", "bounces", "opens", "clicks", "conversions", "unsubscribes", "complaints"]
CHECK = [*COUNTS, "unique_opens", "unique_clicks"]
CHECK_FLOW = [*CHECK, "human_opens", "human_clicks"]
CAMPAIGNS = 300
KNOWN_CAMPAIGNS = list(range(1, 291))
"""Campaigns the store knows: events of campaigns 291-300 are ``unknown_campaign`` rows."""
DUPLICATE_SHARE = 0.005
"""Share of a day's events delivered again the next day (same ``event_id``): ``duplicate_event_id`` rows."""


def lake_root(events: int, days: int) -> Path:
    return DATA / f"kpi_flow_{events}_{days}d"


def now_of(days: int) -> datetime:
    """The time of the check: 23:00 on the last day, so that day's last hour is ``future_timestamp``."""
    last = FIRST_DAY + timedelta(days=days - 1)
    return datetime(last.year, last.month, last.day, 23, tzinfo=UTC)


def generate(events: int, days: int, seed: int = 42) -> Path:
    """Write ``events`` events over ``days`` days, and the ads channel's daily spend, into a lake (once).

    The events carry what the aggregate flow's quality pass removes: 0.5 % of each day's events
    again the next day (same id), about 1 % negative revenue among conversions, campaigns the
    store does not know, and, on the last day, events after the time of the check; 10 % of opens
    are a machine's (``is_machine``).
    """
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
    previous: pl.DataFrame | None = None
    for i in range(days):
        n = per_day if i < days - 1 else events - per_day * (days - 1)
        day = FIRST_DAY + timedelta(days=i)
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        campaign = rng.integers(1, CAMPAIGNS + 1, n)
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
                "revenue": np.where(
                    is_convert, rng.gamma(2.0, 40.0, n) * np.where(rng.random(n) < 0.01, -1, 1), np.nan
                ),
                "cost": np.where(is_send, 0.001, np.nan),
                "is_machine": rng.random(n) < 0.1,
            }
        ).with_columns(
            pl.col("revenue").fill_nan(None),
            pl.col("cost").fill_nan(None),
            pl.when(pl.col("type") == "open").then(pl.col("is_machine")).alias("is_machine"),
        )
        if previous is not None:  # redelivered the next day: same id, a day later
            again = previous.sample(fraction=DUPLICATE_SHARE, seed=i).with_columns(
                pl.col("ts") + timedelta(days=1)
            )
            df = pl.concat([df, again], how="vertical_relaxed")
        previous = df.head(n)
        lake.write_partition("events", day, df)
        ads = [c for c in range(1, CAMPAIGNS + 1) if CHANNELS[c % len(CHANNELS)] == "ads"]
        spend = pl.DataFrame(
            {
                "date": [day] * len(ads),
                "platform": "google_ads",
                "campaign_id": ads,
                "campaign": [f"campaign {c}" for c in ads],
                "ad_set": "",
                "ad": "",
                "spend": np.round(rng.gamma(2.0, 30.0, len(ads)), 2),
            }
        )
        lake.write_partition("ad_spend", day, spend)
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


def run_ours_flow(root: Path, days: int) -> pl.DataFrame:
    """The aggregate flow's KPI query (``recompute_daily_kpis`` without its writes): flag, clean, spend."""
    from aicmo.storage.lake import Lake
    from aicmo.tasks.analytics.kpis import NO_SHARED_SCAN, daily_kpis
    from aicmo.tasks.analytics.quality import clean, flag_events

    lake = Lake(str(root))
    last = FIRST_DAY + timedelta(days=days - 1)
    flagged = flag_events(lake.scan("events", FIRST_DAY, last), KNOWN_CAMPAIGNS, now_of(days))
    events = clean(flagged).with_columns(pl.col("dt").alias("day"))
    query = daily_kpis(events, lake.scan("ad_spend", FIRST_DAY, last))
    return query.collect(engine="streaming", optimizations=NO_SHARED_SCAN)


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


DUCKDB_FLOW_SQL = """
WITH raw AS (
  SELECT event_id, ts, dt, campaign_id, channel, type, contact_id, revenue, cost, is_machine
  FROM read_parquet({files}, hive_partitioning = true)
),
ranked AS (
  SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ts, dt) AS copy FROM raw
),
ev AS (
  SELECT dt AS day, campaign_id, channel, type, contact_id, revenue, cost, is_machine FROM ranked
  WHERE copy = 1 AND ts <= $now AND coalesce(revenue, 0) >= 0
    AND (campaign_id IS NULL OR campaign_id IN (SELECT id FROM known))
),
c AS (
  SELECT day, campaign_id, channel,
    {counts},
    count(*) FILTER (WHERE type = 'open' AND NOT coalesce(is_machine, false)) AS human_opens,
    count(*) FILTER (WHERE type = 'click' AND NOT coalesce(is_machine, false)) AS human_clicks,
    sum(coalesce(revenue, 0)) AS revenue,
    sum(coalesce(cost, 0)) AS event_cost
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
),
s AS (
  SELECT date AS day, campaign_id, 'ads' AS channel, sum(coalesce(spend, 0)) AS ad_spend
  FROM read_parquet({spend_files}) WHERE date <= DATE '{last_day}' GROUP BY ALL
),
k AS (
  SELECT c.*, coalesce(u.unique_opens, 0) AS unique_opens, coalesce(u.unique_clicks, 0) AS unique_clicks
  FROM c LEFT JOIN u USING (day, campaign_id, channel)
)
SELECT day, campaign_id, channel,
  {filled},
  coalesce(k.revenue, 0) AS revenue,
  coalesce(s.ad_spend, 0) AS ad_spend,
  coalesce(k.event_cost, 0) + coalesce(s.ad_spend, 0) AS cost
FROM k FULL JOIN s USING (day, campaign_id, channel)
"""


def _spend_files(root: Path, days: int) -> list[str]:
    """The ``ad_spend`` files holding the first ``days`` days (monthly files: their other days,
    if any, are filtered out by the queries' day range)."""
    from aicmo.storage.lake import Lake

    return Lake(str(root)).partition_files("ad_spend", FIRST_DAY, FIRST_DAY + timedelta(days=days - 1))


def run_duckdb_flow(root: Path, days: int) -> pl.DataFrame:
    import duckdb

    counts = ",\n    ".join(
        f"count(*) FILTER (WHERE type = '{t}') AS {name}" for name, t in zip(COUNTS, TYPES, strict=True)
    )
    filled = ",\n  ".join(f"coalesce(k.{c}, 0) AS {c}" for c in CHECK_FLOW)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE known AS SELECT unnest($ids) AS id", {"ids": KNOWN_CAMPAIGNS})
    sql = DUCKDB_FLOW_SQL.format(
        counts=counts,
        filled=filled,
        files=repr(_files(root, days)),
        spend_files=repr(_spend_files(root, days)),
        last_day=FIRST_DAY + timedelta(days=days - 1),
    )
    inner = con.sql(sql, params={"now": now_of(days)})
    return pl.from_arrow(inner.to_arrow_table())  # type: ignore[return-value]


def run_pandas_flow(root: Path, days: int) -> pl.DataFrame:
    import pandas as pd

    cols = ["event_id", "ts", "contact_id", "campaign_id", "channel", "type", "revenue", "cost", "is_machine"]
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in _files(root, days)], ignore_index=True)
    df["day"] = df["ts"].dt.floor("D")
    df = df.sort_values(["ts", "day"], kind="stable")
    bad = (
        df.duplicated("event_id", keep="first")
        | (df["ts"] > pd.Timestamp(now_of(days)))
        | (df["revenue"].fillna(0.0) < 0)
        | (df["campaign_id"].notna() & ~df["campaign_id"].isin(KNOWN_CAMPAIGNS))
    )
    df = df.loc[~bad]
    keys = ["day", "campaign_id", "channel"]
    counts = df.groupby([*keys, "type"], observed=True).size().unstack("type", fill_value=0)
    counts = counts.reindex(columns=TYPES, fill_value=0)
    counts.columns = COUNTS
    human = df.loc[~df["is_machine"].fillna(False).astype(bool)]
    parts = [counts]
    for kind, name in (("open", "human_opens"), ("click", "human_clicks")):
        parts.append(human.loc[human["type"] == kind].groupby(keys, observed=True).size().rename(name))
    for kind, name in (("open", "unique_opens"), ("click", "unique_clicks")):
        sub = df.loc[(df["type"] == kind) & df["contact_id"].notna(), [*keys, "contact_id"]]
        parts.append(sub.groupby(keys, observed=True)["contact_id"].nunique().rename(name))
    money = df.groupby(keys, observed=True)[["revenue", "cost"]].sum(min_count=0)
    parts.append(money.rename(columns={"cost": "event_cost"}))
    out = pd.concat(parts, axis=1)
    spend = pd.concat(
        [pd.read_parquet(f, columns=["date", "campaign_id", "spend"]) for f in _spend_files(root, days)]
    )
    spend = spend.loc[pd.to_datetime(spend["date"]) <= pd.Timestamp(FIRST_DAY + timedelta(days=days - 1))]
    spend = spend.assign(
        day=pd.to_datetime(spend["date"]).dt.tz_localize("UTC"),
        channel="ads",
        spend=spend["spend"].fillna(0.0),
    )
    spend = spend.groupby(keys)["spend"].sum().rename("ad_spend")
    out = out.join(spend, how="outer").fillna(0)
    out["cost"] = out["event_cost"] + out["ad_spend"]
    out = out.reset_index()
    out["day"] = out["day"].dt.tz_localize(None).astype("datetime64[s]")
    return pl.from_pandas(out)


ENGINES = {
    "ours": run_ours,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
    "ours_flow": run_ours_flow,
    "duckdb_flow": run_duckdb_flow,
    "pandas_flow": run_pandas_flow,
}


def worker(engine: str, root: Path, days: int, runs: int, out: Path) -> None:
    """Time ``runs`` runs of one engine; write each run's wall, CPU and peak RSS and the result to ``out``."""
    if engine.startswith("ours"):  # imports outside the timings
        import aicmo.tasks.analytics.kpis
        import aicmo.tasks.analytics.quality  # noqa: F401
    elif engine.startswith("duckdb"):
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


def check_same(ours: pl.DataFrame, other: pl.DataFrame, flow: bool = False) -> bool:
    """Same groups, counts and distinct counts exactly, money to 1e-9 relative (1e-6 absolute)."""
    keys = ["day", "campaign_id", "channel"]
    counts = CHECK_FLOW if flow else CHECK
    money = ["revenue", "ad_spend", "cost"] if flow else ["revenue"]

    def shaped(df: pl.DataFrame) -> pl.DataFrame:
        return df.select(
            pl.col("day").cast(pl.Date),
            pl.col("campaign_id").cast(pl.Int64),
            pl.col("channel").cast(pl.String),
            *[pl.col(c).cast(pl.Int64) for c in counts],
            *[pl.col(c).cast(pl.Float64).fill_null(0.0) for c in money],
        ).sort(keys)

    a, b = shaped(ours), shaped(other)
    if a.height != b.height or not a.select(keys, *counts).equals(b.select(keys, *counts)):
        return False
    return all(np.allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-9, atol=1e-6) for c in money)


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
        "day x campaign x channel. Two stages: the KPI group-by over the events as they are, and the aggregate "
        "flow's query (duplicates, future timestamps, negative revenue and unknown campaigns removed first, "
        "human-only counts, the ads spend table full-joined in). Each engine runs in its own process.",
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
        "ours": "ours: Polars, streaming engine",
        "duckdb": "DuckDB SQL (hive dt)",
        "pandas": 'pandas groupby (ts.dt.floor("D"))',
    }
    stages = {"": "KPI group-by", "_flow": "flow query (dedupe, clean, spend)"}
    for days, events, engines in sizes:
        for suffix, stage in stages.items():
            results = {e: run_engine(e + suffix, root, days, args.runs, args.in_process) for e in engines}
            for e in engines[1:]:
                rec.check(
                    f"{stage}, {labels[e]} vs ours on {events:,} events: groups, counts, distinct counts"
                    + (", human counts, revenue, ad spend, cost" if suffix else ", revenue"),
                    "counts exact, money 1e-9 relative",
                    check_same(results["ours"]["result"], results[e]["result"], flow=bool(suffix)),
                )
            for e in engines:
                for run in results[e]["runs"]:
                    rec.add(labels[e], "ours" if e == "ours" else "peer", stage, events, unit, run)
            for e in engines[1:]:
                rec.ratio(labels[e], labels["ours"], stage, events)
    rec.save(polars=pl.__version__, **peer_versions("duckdb", "pandas"))


if __name__ == "__main__":
    main()
