"""BG/NBD + Gamma-Gamma fit, RFM summary included, ours vs lifetimes (and PyMC-Marketing's MAP fit).

Both sides start from the same Parquet order log (about 20 orders per customer) and end with
fitted BG/NBD and Gamma-Gamma parameters:

- ours: ``rfm_summary`` (Polars lazy over the Parquet file) -> ``fit_models`` (compressed
  triples, analytic gradients, L-BFGS-B);
- lifetimes: ``pandas.read_parquet`` -> ``summary_data_from_transaction_data(freq="D")`` ->
  ``BetaGeoFitter.fit`` -> ``GammaGammaFitter.fit``;
- PyMC-Marketing (``--pymc``, optional): ``BetaGeoModel`` and ``GammaGammaModel`` fitted with
  ``method="map"`` on our summary (its own summary step is not timed).

Medians of ``--runs`` runs; parameters are compared with lifetimes' (relative difference).

    .venv/bin/python benchmarks/bench_ltv.py --customers 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import machine_info
import polars as pl

from aicmo.tasks.analytics.ltv import fit_models
from aicmo.tasks.analytics.rfm import rfm_summary, unique_histories
from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, simulate_bgnbd_orders

START, END = date(2023, 1, 1), date(2024, 12, 31)
# About 20 orders per customer over two years: a purchase every 8 days or so, long lifetimes.
BENCH_BG = BgNbdParams(r=2.4, alpha=20.0, a=2.0, b=50.0)
BENCH_GG = GammaGammaParams(p=6.0, q=4.0, gamma=40.0)


def machine() -> str:
    """The machine and Polars' version in one line, for the report."""
    return machine_info.describe(machine_info.machine(polars=pl.__version__))


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


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    """Median seconds of ``runs`` calls, every time, and the last result."""
    times = []
    result = None
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def interleaved(
    contenders: dict[str, Callable[[], Any]], runs: int, cpu: dict[str, list[float]] | None = None
) -> dict[str, tuple[float, list[float], Any]]:
    """Run each contender once per round, ``runs`` rounds, so load changes on a shared machine hit all alike.

    ``cpu``, when given, receives each run's process CPU seconds (all threads) per contender: less
    sensitive than wall time to other processes on the machine.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    last: dict[str, Any] = {}
    for _ in range(runs):
        for name, fn in contenders.items():
            gc.collect()
            c0 = time.process_time()
            t0 = time.perf_counter()
            last[name] = fn()
            times[name].append(time.perf_counter() - t0)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - c0)
            print(f"{name}: {times[name][-1]:.2f} s", file=sys.stderr, flush=True)
    return {name: (statistics.median(t), t, last[name]) for name, t in times.items()}


def ours(path: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    summary = rfm_summary(pl.scan_parquet(path), END).collect()
    t1 = time.perf_counter()
    bg, gg = fit_models(summary)
    t2 = time.perf_counter()
    return {"summary_s": t1 - t0, "fit_s": t2 - t1, "bg": bg.params(), "gg": gg.params(), "summary": summary}


def lifetimes_run(path: Path) -> dict[str, Any]:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    t0 = time.perf_counter()
    pdf = pd.read_parquet(path, columns=["contact_id", "ts", "amount"])
    pdf["ts"] = pdf["ts"].dt.tz_localize(None)
    t1 = time.perf_counter()
    summary = summary_data_from_transaction_data(
        pdf, "contact_id", "ts", "amount", observation_period_end=pd.Timestamp(END), freq="D"
    )
    t2 = time.perf_counter()
    bgf = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[summary["frequency"] > 0]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    t3 = time.perf_counter()
    return {
        "read_s": t1 - t0,
        "summary_s": t2 - t1,
        "fit_s": t3 - t2,
        "bg": {k: float(v) for k, v in bgf.params_.items()},
        "gg": {k: float(v) for k, v in ggf.params_.items()},
    }


def pymc_run(summary: pl.DataFrame) -> dict[str, Any]:
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    data = summary.select(
        pl.col("contact_id").alias("customer_id"), "frequency", "recency", "T", "monetary_value"
    ).to_pandas()
    t0 = time.perf_counter()
    bg = BetaGeoModel(data=data[["customer_id", "frequency", "recency", "T"]])
    bg.fit(method="map")
    repeat = data[data["frequency"] > 0]
    gg = GammaGammaModel(data=repeat[["customer_id", "frequency", "monetary_value"]])
    gg.fit(method="map")
    t1 = time.perf_counter()
    post = bg.idata.posterior
    post_gg = gg.idata.posterior
    return {
        "fit_s": t1 - t0,
        "bg": {k: float(post[k].values.ravel()[0]) for k in ("r", "alpha", "a", "b")},
        "gg": {k: float(post_gg[k].values.ravel()[0]) for k in ("p", "q", "v")},
    }


def max_rel_diff(a: dict[str, float], b: dict[str, float]) -> float:
    """Largest relative difference between two parameter sets on their common names."""
    return max(abs(a[k] - b[k]) / abs(b[k]) for k in b if k in a)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/aicmo-bench"))
    parser.add_argument("--skip-lifetimes", action="store_true")
    parser.add_argument(
        "--pymc", action="store_true", help="Also time PyMC-Marketing's MAP fit (if importable)."
    )
    parser.add_argument(
        "--pymc-path",
        help="Extra folder appended to sys.path where PyMC-Marketing is installed "
        "(pip install --target <folder> pymc-marketing), to keep it out of the project's environment.",
    )
    parser.add_argument("--json", type=Path, help="Write the results here as JSON.")
    args = parser.parse_args()
    if args.pymc_path:
        sys.path.append(args.pymc_path)

    path = order_log(args.customers, args.data_dir)
    n_orders = pl.scan_parquet(path).select(pl.len()).collect().item()
    report: dict[str, Any] = {"machine": machine(), "customers": args.customers, "orders": n_orders}

    contenders: dict[str, Callable[[], Any]] = {"ours": lambda: ours(path)}
    if not args.skip_lifetimes:
        import lifetimes  # noqa: F401  (imported once, outside the timings)

        contenders["lifetimes"] = lambda: lifetimes_run(path)
    cpu: dict[str, list[float]] = {}
    results = interleaved(contenders, args.runs, cpu)
    report["cpu_s"] = {name: {"median": statistics.median(v), "runs": v} for name, v in cpu.items()}
    ours_median, ours_times, ours_last = results["ours"]
    summary = ours_last.pop("summary")
    triples = unique_histories(summary.lazy()).collect().height
    report["ours"] = {"median_s": ours_median, "runs_s": ours_times, **ours_last, "unique_triples": triples}
    if "lifetimes" in results:
        lt_median, lt_times, lt_last = results["lifetimes"]
        report["lifetimes"] = {"median_s": lt_median, "runs_s": lt_times, **lt_last}
        report["speedup_vs_lifetimes"] = lt_median / ours_median
        report["cpu_ratio_lifetimes_over_ours"] = statistics.median(cpu["lifetimes"]) / statistics.median(
            cpu["ours"]
        )
        report["fit_only_speedup"] = lt_last["fit_s"] / ours_last["fit_s"]
        report["summary_only_speedup"] = lt_last["summary_s"] / ours_last["summary_s"]
        report["max_rel_param_diff_bgnbd"] = max_rel_diff(ours_last["bg"], lt_last["bg"])
        report["max_rel_param_diff_gamma_gamma"] = max_rel_diff(ours_last["gg"], lt_last["gg"])

    if args.pymc:
        try:
            pm_median, pm_times, pm_last = timed(lambda: pymc_run(summary), args.runs)
        except ImportError as exc:
            report["pymc"] = {"skipped": f"not importable: {exc}"}
        else:
            report["pymc"] = {"median_s": pm_median, "runs_s": pm_times, **pm_last}
            report["pymc_fit_vs_ours_fit"] = pm_median / ours_last["fit_s"]
            report["max_rel_param_diff_pymc_bgnbd"] = max_rel_diff(ours_last["bg"], pm_last["bg"])
            report["max_rel_param_diff_pymc_gamma_gamma"] = max_rel_diff(ours_last["gg"], pm_last["gg"])

    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
