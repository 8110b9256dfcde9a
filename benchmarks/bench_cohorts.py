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

from bench_ltv import interleaved, machine, order_log

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


def check_equal(ours_df: pl.DataFrame, duck: Any, pdf: Any) -> None:
    """The three answers agree cell by cell."""
    np.testing.assert_array_equal(ours_df["active"].to_numpy(), duck["active"])
    np.testing.assert_array_equal(ours_df["active"].to_numpy(), pdf["active"].to_numpy())
    np.testing.assert_allclose(ours_df["retention"].to_numpy(), duck["retention"], rtol=1e-12)
    np.testing.assert_allclose(ours_df["retention"].to_numpy(), pdf["retention"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_df["revenue"].to_numpy(), duck["revenue"], rtol=1e-9)
    np.testing.assert_allclose(ours_df["revenue"].to_numpy(), pdf["revenue"].to_numpy(), rtol=1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000, help="Orders are about 20x this.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/aicmo-bench"))
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    path = order_log(args.customers, args.data_dir)
    n_orders = pl.scan_parquet(path).select(pl.len()).collect().item()
    report: dict[str, Any] = {"machine": machine(), "customers": args.customers, "orders": n_orders}

    contenders: dict[str, Any] = {
        "ours_in_memory": lambda: ours(path, "in-memory"),
        "ours_streaming": lambda: ours(path, "streaming"),
        "duckdb": lambda: duckdb_run(path),
    }
    if not args.skip_pandas:
        contenders["pandas"] = lambda: pandas_run(path)
    timings = interleaved(contenders, args.runs)
    results = {name: last for name, (_, _, last) in timings.items()}
    for name, (median, times, _) in timings.items():
        report[name] = {"median_s": median, "runs_s": times}
    if "pandas" in results:
        check_equal(results["ours_in_memory"], results["duckdb"], results["pandas"])
        report["results_equal"] = True
    best = min(report["ours_in_memory"]["median_s"], report["ours_streaming"]["median_s"])
    report["ours_best_s"] = best
    report["duckdb_over_ours"] = report["duckdb"]["median_s"] / best
    if "pandas" in report:
        report["pandas_over_ours"] = report["pandas"]["median_s"] / best
    report["cells"] = results["ours_in_memory"].height
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
