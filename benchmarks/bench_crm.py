"""CRM benchmarks: CSV import of ``--rows`` contacts, and segment evaluation over ``--contacts`` contacts.

import (same generated CSV, fresh SQLite file each):
- ours: ``aicmo.tasks.crm.csv_import.import_contacts`` -- sniffing, per-row validation with
  email-validator, in-file merge, compare-before-write, batched upserts; then a reimport;
- peer: ``pandas.read_csv`` + ``DataFrame.to_sql`` (executemany in chunks of 5000; no validation,
  no merge, no idempotence): the floor of "read a CSV into a table".

segments (same 1M-row frame):
- ours: the definition compiled to a Polars expression, counted lazily;
- duckdb: the same filter hand-written in SQL over the same Arrow table;
- pandas: the same filter as boolean masks;
- ours on SQL: the definition compiled to SQLAlchemy and counted in SQLite over the same rows.
Counts are checked to agree.

    .venv/bin/python benchmarks/bench_crm.py --rows 100000 --contacts 1000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

NOW = datetime(2026, 11, 1, tzinfo=UTC)
DEFINITION: dict[str, Any] = {
    "and": [
        {"lifecycle_stage": ["lead", "mql", "sql", "opportunity"]},
        {"or": [{"tier": ["gold", "platinum"]}, {"score": {"gte": 60}}]},
        {"tags": {"contains": "newsletter"}},
        {"not": {"tags": {"contains": "partner"}}},
        {"last_activity": {"within_days": 60}},
        {"field": "country", "op": "in", "value": ["DE", "FR", "NL", "US"]},
    ]
}
DUCKDB_SQL = """
SELECT count(*) FROM contacts
WHERE lifecycle_stage IN ('lead', 'mql', 'sql', 'opportunity')
  AND (tier IN ('gold', 'platinum') OR engagement_score >= 60)
  AND list_contains(tags, 'newsletter')
  AND NOT list_contains(tags, 'partner')
  AND last_activity_at >= $cutoff
  AND country IN ('DE', 'FR', 'NL', 'US')
"""


def _timed(fn: Any, runs: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


# ---- import ----------------------------------------------------------------------------------
def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    lines = ["Email Address;First Name;Last Name;Company;Phone;Country;Tags"]
    countries = ["DE", "FR", "US", "GB", "NL"]
    for i in range(rows):
        bad = rng.random() < 0.02
        email = f"user{i}@@broken" if bad else f"User.{i}@Example{i % 5000}.com"
        phone = f"+49 30 {i:07d}"
        lines.append(f"{email};Fïrst{i};Läst{i};Firma {i % 2000};{phone};{countries[i % 5]};a,b{i % 7}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")


def bench_import(rows: int) -> dict[str, Any]:
    import pandas as pd

    from aicmo.models.base import Base
    from aicmo.storage.db import make_engine
    from aicmo.tasks.crm.csv_import import import_contacts

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "contacts.csv"
        write_csv(src, rows)
        ours = make_engine(f"sqlite:///{tmp}/ours.db")
        Base.metadata.create_all(ours)
        start = time.perf_counter()
        report = import_contacts(ours, src, errors_path=Path(tmp) / "errors.csv")
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        again = import_contacts(ours, src, errors_path=Path(tmp) / "errors2.csv")
        t_again = time.perf_counter() - start
        assert again.inserted == 0 and again.updated == 0

        peer = make_engine(f"sqlite:///{tmp}/peer.db")
        start = time.perf_counter()
        frame = pd.read_csv(src, sep=";", encoding="utf-8-sig")
        frame.to_sql("contacts", peer, index=False, chunksize=5000)
        t_peer = time.perf_counter() - start
    return {
        "rows": rows,
        "ours_s": round(t_ours, 2),
        "ours_rows_per_s": round(rows / t_ours),
        "ours_reimport_s": round(t_again, 2),
        "peer_pandas_to_sql_s": round(t_peer, 2),
        "ratio_ours_over_peer": round(t_ours / t_peer, 2),
        "counts": report.counts(),
    }


# ---- segments --------------------------------------------------------------------------------
def contacts_frame(n: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    stages = np.array(
        ["subscriber", "lead", "mql", "sql", "opportunity", "customer", "evangelist", "churned"]
    )
    tiers = np.array(["bronze", "silver", "gold", "platinum", None], dtype=object)
    countries = np.array(["DE", "FR", "NL", "US", "GB", "ES", None], dtype=object)
    tag_pool = [[], ["newsletter"], ["newsletter", "vip"], ["partner"], ["newsletter", "partner"], ["beta"]]
    tag_idx = rng.integers(0, len(tag_pool), n)
    score = rng.uniform(0, 100, n)
    score[rng.random(n) < 0.1] = np.nan
    days_ago = rng.integers(0, 365, n).astype("timedelta64[D]")
    activity = np.datetime64("2026-11-01T00:00:00", "us") - days_ago.astype("timedelta64[us]")
    frame = pl.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "email": [f"u{i}@example.com" for i in range(n)],
            "lifecycle_stage": stages[rng.integers(0, len(stages), n)],
            "tier": pl.Series(tiers[rng.integers(0, len(tiers), n)].tolist(), dtype=pl.String),
            "country": pl.Series(countries[rng.integers(0, len(countries), n)].tolist(), dtype=pl.String),
            "engagement_score": pl.Series(score).fill_nan(None),
            "tags": pl.Series([tag_pool[i] for i in tag_idx], dtype=pl.List(pl.String)),
            "last_activity_at": pl.Series(activity).dt.replace_time_zone("UTC"),
        }
    )
    return frame


def bench_segments(n: int, sql_rows: int) -> dict[str, Any]:
    import duckdb
    import pandas as pd

    from aicmo.tasks.crm.segments import compile_polars

    start = time.perf_counter()
    frame = contacts_frame(n)
    t_gen = time.perf_counter() - start

    t_compile, expr = _timed(lambda: compile_polars(DEFINITION, now=NOW), runs=5)
    t_ours, count = _timed(lambda: frame.lazy().filter(expr).select(pl.len()).collect().item())

    cutoff = NOW - timedelta(days=60)
    arrow = frame.to_arrow()
    con = duckdb.connect()
    con.register("contacts", arrow)
    t_duck, duck = _timed(lambda: con.execute(DUCKDB_SQL, {"cutoff": cutoff}).fetchone()[0])  # type: ignore[index]

    pdf = frame.to_pandas()

    def pandas_count() -> int:
        tags = pdf["tags"]
        has_news = tags.map(lambda t: "newsletter" in t)
        has_partner = tags.map(lambda t: "partner" in t)
        mask = (
            pdf["lifecycle_stage"].isin(["lead", "mql", "sql", "opportunity"])
            & (pdf["tier"].isin(["gold", "platinum"]) | (pdf["engagement_score"] >= 60))
            & has_news
            & ~has_partner
            & (pdf["last_activity_at"] >= pd.Timestamp(cutoff))
            & pdf["country"].isin(["DE", "FR", "NL", "US"])
        )
        return int(mask.sum())

    t_pandas, pandas_n = _timed(pandas_count, runs=1)
    assert count == duck == pandas_n, (count, duck, pandas_n)

    sql = bench_sql(frame.head(sql_rows))
    return {
        "contacts": n,
        "matching": count,
        "generate_s": round(t_gen, 2),
        "compile_ms": round(t_compile * 1000, 3),
        "ours_polars_s": round(t_ours, 4),
        "duckdb_s": round(t_duck, 4),
        "pandas_s": round(t_pandas, 3),
        "ratio_ours_over_duckdb": round(t_ours / t_duck, 2),
        "ratio_pandas_over_ours": round(t_pandas / t_ours, 1),
        **sql,
    }


def bench_sql(frame: pl.DataFrame) -> dict[str, Any]:
    """The same definition compiled to SQL and counted in SQLite over ``frame``'s rows."""
    from sqlalchemy import func, insert, select

    from aicmo.models.base import Base
    from aicmo.models.crm import Contact
    from aicmo.storage.db import make_engine
    from aicmo.tasks.crm.segments import compile_polars, compile_sql

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/seg.db")
        Base.metadata.create_all(engine)
        rows = frame.drop("id").with_columns(pl.lit(NOW).alias("created_at"), pl.lit(NOW).alias("updated_at"))
        rows = rows.with_columns(
            pl.lit(False).alias("suppressed"),
            pl.lit("none").alias("email_consent"),
            pl.lit("none").alias("sms_consent"),
            pl.lit("none").alias("push_consent"),
        )
        start = time.perf_counter()
        with engine.begin() as conn:
            dicts = rows.to_dicts()
            for d in dicts:
                d["enrichment"] = {}
            for i in range(0, len(dicts), 20_000):
                conn.execute(insert(Contact), dicts[i : i + 20_000])
        t_load = time.perf_counter() - start
        where = compile_sql(DEFINITION, now=NOW)
        with engine.connect() as conn:
            t_sql, count = _timed(
                lambda: conn.scalar(select(func.count()).select_from(Contact).where(where)), runs=3
            )
        engine.dispose()
    expected = frame.lazy().filter(compile_polars(DEFINITION, now=NOW)).select(pl.len()).collect().item()
    assert count == expected, (count, expected)
    return {"sql_rows": frame.height, "sql_load_s": round(t_load, 1), "ours_sqlite_s": round(t_sql, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows to import")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts in the segment frame")
    parser.add_argument("--sql-rows", type=int, default=1_000_000, help="rows loaded into SQLite for SQL")
    parser.add_argument("--only", choices=["import", "segments"], default=None)
    args = parser.parse_args()
    out: dict[str, Any] = {}
    if args.only in (None, "import"):
        out["import"] = bench_import(args.rows)
        print(json.dumps(out["import"], indent=2), flush=True)
    if args.only in (None, "segments"):
        out["segments"] = bench_segments(args.contacts, min(args.sql_rows, args.contacts))
        print(json.dumps(out["segments"], indent=2), flush=True)


if __name__ == "__main__":
    main()
