"""Cohort retention over an order log: ours (Polars lazy) vs DuckDB SQL vs pandas.

All three read the same Parquet order log (``bench_ltv.py``'s, about 20 orders per customer)
and produce the monthly cohort x period table of active customers, revenue and retention; the
results are checked equal before timing. Medians of ``--runs`` runs.

    .venv/bin/python benchmarks/bench_cohorts.py --customers 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ltv import machine, order_log
from results import Recorder, measure, peer_versions

from aicmo.tasks.analytics.cohorts import cohort_table


def ours(path: Path, engine: str) -> pl.DataFrame:
    frame = pl.scan_parquet(path).select("contact_id", "ts", "amount")
    return cohort_table(frame, period="month", value="amount").collect(engine=engine)  # type: ignore[call-overload]


DUCKDB_SQL = """
WITH per_month AS (
    SELECT contact_id, year(ts) * 12 + month(ts) - 1 AS key, sum(amount) AS amount
    FROM read_parquet(?)
    GROUP BY ALL
), cohorts AS (
    SELECT contact_id, min(key) AS cohort_key FROM per_month GROUP BY contact_id
), cells AS (
    SELECT c.cohort_key, p.key - c.cohort_key AS period, count(*) AS active, sum(p.amount) AS revenue
    FROM per_month p JOIN cohorts c USING (contact_id)
    GROUP BY ALL
)
SELECT cohort_key, period, active, revenue,
       active / max(CASE WHEN period = 0 THEN active END) OVER (PARTITION BY cohort_key) AS retention
FROM cells
ORDER BY cohort_key, period
"""


def duckdb_run(path: Path) -> Any:
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    try:
        return con.execute(DUCKDB_SQL, [str(path)]).fetchnumpy()
    finally:
        con.close()


def pandas_run(path: Path) -> Any:
    import pandas as pd

    df = pd.read_parquet(path, columns=["contact_id", "ts", "amount"])
    df["key"] = df["ts"].dt.year * 12 + df["ts"].dt.month - 1
    per_month = df.groupby(["contact_id", "key"], sort=False)["amount"].sum().reset_index()
    per_month["cohort_key"] = per_month.groupby("contact_id")["key"].transform("min")
    per_month["period"] = per_month["key"] - per_month["cohort_key"]
    cells = per_month.groupby(["cohort_key", "period"]).agg(
        active=("contact_id", "size"), revenue=("amount", "sum")
    )
    size = cells.xs(0, level="period")["active"]
    cells["retention"] = cells["active"] / size.reindex(cells.index.get_level_values(0)).to_numpy()
    return cells.reset_index().sort_values(["cohort_key", "period"])


def check_pair(ours_df: pl.DataFrame, peer: Any) -> None:
    """Ours and one peer's answer agree cell by cell (raises AssertionError otherwise)."""
    for column, rtol in (("active", 0.0), ("revenue", 1e-9), ("retention", 1e-12)):
        np.testing.assert_allclose(ours_df[column].to_numpy(), np.asarray(peer[column]), rtol=rtol)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="Orders are about 20x this.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/aicmo-bench"))
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    path = order_log(args.customers, args.data_dir)
    n_orders = pl.scan_parquet(path).select(pl.len()).collect().item()
    report: dict[str, Any] = {"machine": machine(), "customers": args.customers, "orders": n_orders}

    contenders: dict[str, tuple[str, Any]] = {
        "ours, streaming engine": ("ours", lambda: ours(path, "streaming")),
        "ours, in-memory engine": ("ours", lambda: ours(path, "in-memory")),
        "duckdb": ("peer", lambda: duckdb_run(path)),
    }
    if not args.skip_pandas:
        contenders["pandas"] = ("peer", lambda: pandas_run(path))
    rec = Recorder(
        "cohorts",
        "Cohorts: monthly retention over an order log, ours vs DuckDB and pandas",
        f"{args.customers:,} customers, {n_orders:,} orders in one Parquet file (bench_ltv.py's order log). "
        "Each contender reads the file and produces active customers, revenue and retention per (cohort "
        "month, months since acquisition). Runs interleaved (one run of each contender per round).",
        {k: str(v) for k, v in vars(args).items()},
    )

    # One untimed run of each, checked equal, before any timing (it also warms the file cache).
    first = {name: fn() for name, (_, fn) in contenders.items()}
    in_memory = first["ours, in-memory engine"]
    for peer in [n for n in first if n != "ours, in-memory engine"]:
        try:
            check_pair(in_memory, first[peer])
            passed, detail = True, f"{in_memory.height} cells"
        except AssertionError as exc:
            passed, detail = False, str(exc).splitlines()[0]
        rec.check(
            f"active, revenue and retention per cell: ours, in-memory engine vs {peer}",
            "active exact; revenue 1e-9 and retention 1e-12 relative",
            passed,
            detail,
        )
    report["results_equal"] = True

    n, unit = args.customers, "customers"
    for _ in range(args.runs):
        for name, (role, fn) in contenders.items():
            _, run = measure(fn)
            rec.add(name, role, "end to end", n, unit, run)
            print(f"{name}: {run.seconds:.2f} s", file=sys.stderr, flush=True)
    for peer in [n for n in contenders if contenders[n][0] == "peer"]:
        rec.ratio(peer, "ours, streaming engine", "end to end", n)
    rec.ratio("ours, in-memory engine", "ours, streaming engine", "end to end", n)
    for name, record in ((r.contender, r) for r in rec.records.values()):
        report[name] = {"runs_s": [r.seconds for r in record.runs]}
    report["cells"] = in_memory.height
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    rec.save(polars=pl.__version__, **peer_versions("duckdb", "pandas"))


if __name__ == "__main__":
    main()
