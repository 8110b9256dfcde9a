"""CRM benchmarks: CSV import of ``--rows`` contacts, and segment evaluation over ``--contacts`` contacts.

import (same generated CSV, fresh SQLite file each):
- ours: ``aicmo.tasks.crm.csv_import.import_contacts`` -- sniffing, per-row validation with
  email-validator, in-file merge, compare-before-write, batched upserts; then a reimport;
- peer: ``pandas.read_csv`` + ``DataFrame.to_sql`` (executemany in chunks of 5000; no validation,
  no merge, no idempotence): the floor of "read a CSV into a table".

segments (same 1M-row frame, every contender timed ``--repeat`` times):
- ours: the definition compiled to a Polars expression, counted lazily;
- duckdb: the same filter hand-written in SQL over the same Arrow table;
- pandas: the same filter as boolean masks over an Arrow-backed frame
  (``to_pandas(use_pyarrow_extension_array=True)``), the tag tests vectorized
  (``Series.list.flatten() == tag``, owners by ``np.repeat`` of ``list.len()``, ``np.bincount``);
- ours on SQL: the definition compiled to SQLAlchemy and counted in SQLite over the same rows.
Counts are checked equal before timing. Every run is recorded (see ``results.py``).

    .venv/bin/python benchmarks/bench_crm.py --rows 100000 --contacts 1000000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from results import Recorder, peer_versions

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


def bench_import(rec: Recorder, rows: int, repeat: int) -> None:
    import pandas as pd

    from aicmo.models.base import Base
    from aicmo.storage.db import make_engine
    from aicmo.tasks.crm.csv_import import import_contacts

    unit = "CSV rows"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "contacts.csv"
        write_csv(src, rows)
        for i in range(repeat):
            ours = make_engine(f"sqlite:///{tmp}/ours{i}.db")
            Base.metadata.create_all(ours)
            report = rec.time(
                "ours: import_contacts",
                "ours",
                "import",
                rows,
                unit,
                lambda: import_contacts(ours, src, errors_path=Path(tmp) / "errors.csv"),  # noqa: B023
            )
            again = rec.time(
                "ours: import_contacts",
                "ours",
                "reimport (no change)",
                rows,
                unit,
                lambda: import_contacts(ours, src, errors_path=Path(tmp) / "errors2.csv"),  # noqa: B023
            )
            if i == 0:
                rec.check(
                    "reimport of the same file writes nothing",
                    "exact",
                    again.inserted == 0 and again.updated == 0,
                    str(report.counts()),
                )
            ours.dispose()
            peer = make_engine(f"sqlite:///{tmp}/peer{i}.db")

            def pandas_load() -> None:
                frame = pd.read_csv(src, sep=";", encoding="utf-8-sig")
                frame.to_sql("contacts", peer, index=False, chunksize=5000)  # noqa: B023

            rec.time(
                "pandas read_csv + to_sql (floor: no validation)", "peer", "import", rows, unit, pandas_load
            )
            peer.dispose()
    rec.note(
        "The import's peer only copies text into a table (no validation, no merge, no idempotence): "
        "it is the floor of reading a CSV into a table, not a competitor."
    )


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


def pandas_has_tag(tags: Any, tag: str) -> np.ndarray:
    """Whether each row's tag list holds ``tag``, vectorized over an Arrow list column."""
    lengths = tags.list.len().to_numpy(dtype=np.int64)
    hit = (tags.list.flatten() == tag).to_numpy(dtype=bool)
    owner = np.repeat(np.arange(len(tags)), lengths)
    return np.bincount(owner[hit], minlength=len(tags)) > 0


def bench_segments(rec: Recorder, n: int, sql_rows: int, repeat: int) -> None:
    import duckdb
    import pandas as pd

    from aicmo.tasks.crm.segments import compile_polars

    frame = contacts_frame(n)
    expr = compile_polars(DEFINITION, now=NOW)
    cutoff = NOW - timedelta(days=60)
    con = duckdb.connect()
    con.register("contacts", frame.to_arrow())
    pdf = frame.to_pandas(use_pyarrow_extension_array=True)

    def pandas_count() -> int:
        mask = (
            pdf["lifecycle_stage"].isin(["lead", "mql", "sql", "opportunity"])
            & (pdf["tier"].isin(["gold", "platinum"]) | (pdf["engagement_score"] >= 60))
            & pandas_has_tag(pdf["tags"], "newsletter")
            & ~pandas_has_tag(pdf["tags"], "partner")
            & (pdf["last_activity_at"] >= pd.Timestamp(cutoff))
            & pdf["country"].isin(["DE", "FR", "NL", "US"])
        )
        return int(mask.fillna(False).sum())

    contenders = {
        "ours: compiled to Polars (lazy count)": (
            "ours",
            lambda: frame.lazy().filter(expr).select(pl.len()).collect().item(),
        ),
        "DuckDB: hand-written SQL over the Arrow table": (
            "peer",
            lambda: con.execute(DUCKDB_SQL, {"cutoff": cutoff}).fetchone()[0],
        ),  # type: ignore[index]
        "pandas: boolean masks, vectorized tags (Arrow dtypes)": ("peer", pandas_count),
    }
    counts = {name: fn() for name, (_, fn) in contenders.items()}
    rec.check(
        "matching contacts: ours vs DuckDB vs pandas", "exact", len(set(counts.values())) == 1, str(counts)
    )
    unit = "contacts"
    for _ in range(repeat):  # interleaved rounds, the same number for every contender
        for name, (role, fn) in contenders.items():
            rec.time(name, role, "segment count", n, unit, fn)
    for name in list(contenders)[1:]:
        rec.ratio(name, "ours: compiled to Polars (lazy count)", "segment count", n)
    rec.note(f"{next(iter(counts.values())):,} of {n:,} contacts match the six clauses.")
    bench_sql(rec, frame.head(sql_rows), repeat)


def bench_sql(rec: Recorder, frame: pl.DataFrame, repeat: int) -> None:
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
        with engine.begin() as conn:
            dicts = rows.to_dicts()
            for d in dicts:
                d["enrichment"] = {}
            for i in range(0, len(dicts), 20_000):
                conn.execute(insert(Contact), dicts[i : i + 20_000])
        where = compile_sql(DEFINITION, now=NOW)
        expected = frame.lazy().filter(compile_polars(DEFINITION, now=NOW)).select(pl.len()).collect().item()
        with engine.connect() as conn:
            count = conn.scalar(select(func.count()).select_from(Contact).where(where))
            rec.check(
                "matching contacts: ours compiled to SQL (SQLite) vs ours on Polars",
                "exact",
                count == expected,
                f"{count} vs {expected}",
            )
            for _ in range(repeat):
                rec.time(
                    "ours: compiled to SQL, count(*) in SQLite",
                    "ours",
                    "segment count",
                    frame.height,
                    "contacts",
                    lambda: conn.scalar(select(func.count()).select_from(Contact).where(where)),
                )
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows to import")
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts in the segment frame")
    parser.add_argument("--sql-rows", type=int, default=1_000_000, help="rows loaded into SQLite for SQL")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of every contender")
    parser.add_argument("--only", choices=["import", "segments"], default=None)
    args = parser.parse_args(argv)
    if args.only in (None, "import"):
        rec = Recorder(
            "crm_import",
            "CRM: CSV import vs pandas read_csv + to_sql",
            f"{args.rows:,} CSV rows (UTF-8 with BOM, semicolons, aliased headers, 2 % bad emails) into a fresh "
            "SQLite file; then the same file again.",
            vars(args),
        )
        bench_import(rec, args.rows, args.repeat)
        rec.save(**peer_versions("pandas", "sqlalchemy"))
    if args.only in (None, "segments"):
        rec = Recorder(
            "crm_segments",
            "CRM: segment evaluation vs DuckDB and pandas",
            f"A six-clause segment (stage in-list, tier or score range, tag contains, not tag, activity within 60 "
            f"days, country in-list) counted over {args.contacts:,} contacts in memory, and over "
            f"{min(args.sql_rows, args.contacts):,} in SQLite. {args.repeat} interleaved runs per contender.",
            vars(args),
        )
        bench_segments(rec, args.contacts, min(args.sql_rows, args.contacts), args.repeat)
        rec.save(polars=pl.__version__, **peer_versions("duckdb", "pandas"))


if __name__ == "__main__":
    main()
