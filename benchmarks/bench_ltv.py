"""BG/NBD + Gamma-Gamma from an order log, ours vs lifetimes.

Both sides start from the same Parquet order log (about 20 orders per customer) and end with
fitted BG/NBD and Gamma-Gamma parameters with their standard errors. Two stages, timed apart in
interleaved rounds (ours, lifetimes, ours, ...), and their sum as end to end:

- RFM summary. Ours: ``rfm_summary`` (Polars lazy over the Parquet file). lifetimes:
  ``pandas.read_parquet`` then ``summary_data_from_transaction_data(freq="D")``;
- fit. Ours: ``fit_models``: the summary compressed to unique ``(frequency, recency, T)`` triples
  with their counts as weights, BG/NBD by L-BFGS-B with analytic gradients, Gamma-Gamma over the
  repeat customers, standard errors from the observed information. lifetimes: the same triples
  and counts (a pandas ``groupby(...).size()``, timed) passed as ``BetaGeoFitter.fit(weights=...)``,
  then ``GammaGammaFitter.fit`` over the same repeat customers; lifetimes computes the Hessian
  (autograd) inside ``fit`` for its standard errors, so both fits include that work.

Checked before the report: both summaries have the same customers and triples, and the fitted
parameters agree within ``--param-tolerance`` (relative).

    .venv/bin/python benchmarks/bench_ltv.py --customers 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import machine_info
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from results import Recorder, Run, measure, peer_versions

from aicmo.tasks.analytics.ltv import fit_models
from aicmo.tasks.analytics.rfm import rfm_summary, unique_histories
from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, simulate_bgnbd_orders

START, END = date(2023, 1, 1), date(2024, 12, 31)
# About 20 orders per customer over two years: a purchase every 8 days or so, long lifetimes.
BENCH_BG = BgNbdParams(r=2.4, alpha=20.0, a=2.0, b=50.0)
BENCH_GG = GammaGammaParams(p=6.0, q=4.0, gamma=40.0)


def order_log(customers: int, folder: Path, seed: int = 2024) -> Path:
    """The benchmark's order log as one Parquet file, generated once per size."""
    path = folder / f"orders-{customers}.parquet"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        orders = simulate_bgnbd_orders(customers, BENCH_BG, BENCH_GG, START, END, seed)
        orders.select("order_id", "contact_id", "ts", "amount").write_parquet(path, compression="zstd")
        print(
            f"generated {orders.height:,} orders in {time.perf_counter() - t0:.1f} s -> {path}",
            file=sys.stderr,
        )
    return path


def machine() -> str:
    """The machine and Polars' version in one line (bench_cohorts.py's report uses it too)."""
    return machine_info.describe(machine_info.machine(polars=pl.__version__))


def interleaved(
    contenders: dict[str, Callable[[], Any]], runs: int, cpu: dict[str, list[float]] | None = None
) -> dict[str, tuple[float, list[float], Any]]:
    """Run each contender once per round, ``runs`` rounds, so load changes on a shared machine hit all alike.

    ``cpu``, when given, receives each run's process CPU seconds (all threads) per contender.
    (bench_cohorts.py times its contenders with it.)
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    last: dict[str, Any] = {}
    for _ in range(runs):
        for name, fn in contenders.items():
            last[name], run = measure(fn)
            times[name].append(run.seconds)
            if cpu is not None:
                cpu.setdefault(name, []).append(run.cpu_seconds)
            print(f"{name}: {run.seconds:.2f} s", file=sys.stderr, flush=True)
    return {name: (statistics.median(t), t, last[name]) for name, t in times.items()}


def ours_summary(path: Path) -> pl.DataFrame:
    return rfm_summary(pl.scan_parquet(path), END).collect()


def ours_fit(summary: pl.DataFrame) -> dict[str, Any]:
    bg, gg = fit_models(summary)
    return {"bg": bg.params(), "gg": gg.params(), "bg_se": bg.std_errors, "gg_se": gg.std_errors}


def lifetimes_summary(path: Path) -> Any:
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    pdf = pd.read_parquet(path, columns=["contact_id", "ts", "amount"])
    pdf["ts"] = pdf["ts"].dt.tz_localize(None)
    return summary_data_from_transaction_data(
        pdf, "contact_id", "ts", "amount", observation_period_end=pd.Timestamp(END), freq="D"
    )


def lifetimes_fit(summary: Any) -> dict[str, Any]:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    triples = summary.groupby(["frequency", "recency", "T"]).size().rename("weight").reset_index()
    bgf = BetaGeoFitter().fit(
        triples["frequency"], triples["recency"], triples["T"], weights=triples["weight"]
    )
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    return {
        "bg": {k: float(v) for k, v in bgf.params_.items()},
        "gg": {k: float(v) for k, v in ggf.params_.items()},
        "triples": len(triples),
        "repeat": len(repeat),
    }


def max_rel_diff(a: dict[str, float], b: dict[str, float]) -> float:
    """Largest relative difference between two parameter sets on their common names."""
    return max(abs(a[k] - b[k]) / abs(b[k]) for k in b if k in a)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("AICMO_BENCH_DATA", "/tmp/aicmo-bench"))
    )
    parser.add_argument("--param-tolerance", type=float, default=1e-3, help="relative")
    args = parser.parse_args(argv)

    path = order_log(args.customers, args.data_dir)
    n_orders = pl.scan_parquet(path).select(pl.len()).collect().item()
    import lifetimes  # noqa: F401  (imported once, outside the timings)

    rec = Recorder(
        "ltv",
        "LTV: BG/NBD + Gamma-Gamma, ours vs lifetimes",
        f"{args.customers:,} customers, {n_orders:,} orders in one Parquet file. RFM summary and model fit "
        "timed apart; end to end is their sum per run. Both fits compute standard errors (ours from the "
        "observed information, lifetimes from an autograd Hessian) inside the timed fit; both fit BG/NBD over "
        "the same compressed (frequency, recency, T) triples with counts as weights.",
        {k: str(v) for k, v in vars(args).items()},
    )
    n, unit = args.customers, "customers"
    checked = False
    for _ in range(args.runs):
        summary, s_run = measure(lambda: ours_summary(path))
        fit, f_run = measure(lambda: ours_fit(summary))  # noqa: B023
        lt_summary, ls_run = measure(lambda: lifetimes_summary(path))
        lt_fit, lf_run = measure(lambda: lifetimes_fit(lt_summary))  # noqa: B023
        for name, role, runs in (("ours", "ours", (s_run, f_run)), ("lifetimes", "peer", (ls_run, lf_run))):
            rec.add(name, role, "RFM summary", n, unit, runs[0])
            rec.add(name, role, "fit", n, unit, runs[1])
            rec.add(
                name,
                role,
                "end to end",
                n,
                unit,
                Run(
                    runs[0].seconds + runs[1].seconds,
                    runs[0].cpu_seconds + runs[1].cpu_seconds,
                    max(runs[0].peak_rss_mb, runs[1].peak_rss_mb),
                ),
            )
        if not checked:
            triples = unique_histories(summary.lazy()).collect().height
            rec.check(
                "customers and unique (frequency, recency, T) triples: ours vs lifetimes' summary",
                "exact",
                summary.height == len(lt_summary) and triples == lt_fit["triples"],
                f"{summary.height:,} customers, {triples:,} triples vs {len(lt_summary):,}, {lt_fit['triples']:,}",
            )
            bg_diff = max_rel_diff(fit["bg"], lt_fit["bg"])
            gg_diff = max_rel_diff(fit["gg"], lt_fit["gg"])
            rec.check(
                "BG/NBD and Gamma-Gamma parameters: ours vs lifetimes",
                f"{args.param_tolerance:g} relative",
                max(bg_diff, gg_diff) <= args.param_tolerance,
                f"largest relative difference BG/NBD {bg_diff:.2e}, Gamma-Gamma {gg_diff:.2e}",
            )
            print(json.dumps({"ours": fit, "lifetimes": lt_fit}, indent=1, default=str), file=sys.stderr)
            checked = True
    for stage in ("RFM summary", "fit", "end to end"):
        rec.ratio("lifetimes", "ours", stage, n)
    rec.save(polars=pl.__version__, **peer_versions("lifetimes", "pandas"))


if __name__ == "__main__":
    main()
