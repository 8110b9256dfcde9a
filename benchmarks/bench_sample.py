"""Sample-data generation speed: the whole generator at ~10M events, and the BG/NBD order simulator.

1. ``generate_dataset`` (the code behind ``aicmo generate``) into a fresh SQLite store and lake
   under ``benchmarks/.data`` at ``--contacts`` x ``--days`` (105k x 365 gives about 10M events),
   with its per-stage timings, events per second and the peak RSS of the process.
2. ``simulate_bgnbd_orders`` for ``--customers`` customers (1M gives ~20M orders with the
   parameters below), beside lifetimes' ``beta_geometric_nbd_model`` data generator (a Python loop
   per customer that returns only the per-customer summary, not an order log) on
   ``--lifetimes-customers`` customers; the ratio is per customer.

Each part runs ``--runs`` times, each time in its own process (so its peak memory is its own).
Every run's wall and CPU seconds and peak memory are recorded (``results.py``) for ``make bench``.
The two simulators' outputs differ in kind (an order log vs per-customer summaries), so no
equality check compares them; each output is checked for what it promises instead.

    .venv/bin/python benchmarks/bench_sample.py --contacts 105000 --days 365 --customers 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import machine_info
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import Recorder, Run, measure, peer_versions

DATA = Path(__file__).parent / ".data"
END = date(2026, 10, 31)
HEAVY = {"r": 2.0, "alpha": 10.0, "a": 1.5, "b": 18.0}  # ~20 orders per customer over three years


def machine() -> dict[str, Any]:
    """The machine, for the report."""
    return machine_info.machine()


def bench_generator(contacts: int, days: int, keep: bool) -> dict[str, Any]:
    from aicmo.models.base import Base
    from aicmo.storage.db import make_engine
    from aicmo.storage.lake import Lake
    from aicmo.tasks.sample import generate_dataset

    root = DATA / f"sample_{contacts}_{days}d"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{root / 'store.db'}")
    Base.metadata.create_all(engine)
    summary, run = measure(
        lambda: generate_dataset(
            engine,
            Lake(str(root / "lake")),
            contacts=contacts,
            days=days,
            seed=7,
            end=END,
            assets_dir=root / "assets",
        )
    )
    elapsed = run.seconds
    lake_bytes = sum(p.stat().st_size for p in (root / "lake").rglob("*.parquet"))
    lake_events = Lake(str(root / "lake")).scan("events").select(pl.len()).collect().item()
    engine.dispose()
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "contacts": contacts,
        "days": days,
        "events": summary.events,
        "orders": summary.orders,
        "ad_spend_rows": summary.ad_spend_rows,
        "campaigns": summary.campaigns,
        "seconds": round(elapsed, 1),
        "events_per_second": round(summary.events / elapsed),
        "stages": summary.seconds,
        "lake_mb": round(lake_bytes / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "run": [run.seconds, run.cpu_seconds, run.peak_rss_mb],
        "lake_events": lake_events,
    }


def bench_orders(customers: int, lifetimes_customers: int) -> dict[str, Any]:
    from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, simulate_bgnbd_orders

    params = BgNbdParams(**HEAVY)
    start = date(2023, 11, 1)
    orders, run = measure(
        lambda: simulate_bgnbd_orders(customers, params, GammaGammaParams(), start, END, seed=1)
    )
    ours = run.seconds
    in_window = orders.select(
        (pl.col("ts").dt.date().is_between(start, END).all() & (pl.col("amount") > 0).all()).alias("ok"),
        pl.col("contact_id").n_unique().alias("customers"),
    ).row(0, named=True)
    result: dict[str, Any] = {
        "customers": customers,
        "orders": orders.height,
        "run": [run.seconds, run.cpu_seconds, run.peak_rss_mb],
        "orders_in_window": bool(in_window["ok"]),
        "customers_with_orders": in_window["customers"],
        "ours_seconds": round(ours, 2),
        "ours_us_per_customer": round(ours / customers * 1e6, 2),
    }
    try:
        from lifetimes.generate_data import beta_geometric_nbd_model
    except ImportError:
        result["lifetimes"] = "not installed (pip install -e '.[bench]')"
        return result
    summary, peer_run = measure(
        lambda: beta_geometric_nbd_model(
            365 * 3, HEAVY["r"], HEAVY["alpha"], HEAVY["a"], HEAVY["b"], size=lifetimes_customers
        )
    )
    peer = peer_run.seconds
    result.update(
        lifetimes_run=[peer_run.seconds, peer_run.cpu_seconds, peer_run.peak_rss_mb],
        lifetimes_rows=len(summary),
        lifetimes_customers=lifetimes_customers,
        lifetimes_seconds=round(peer, 2),
        lifetimes_us_per_customer=round(peer / lifetimes_customers * 1e6, 2),
        speedup_per_customer=round((peer / lifetimes_customers) / (ours / customers), 1),
    )
    return result


def _child(args: list[str]) -> dict[str, Any]:
    """Run one part in its own process, so its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=105_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-customers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1, help="runs of each part, each in its own process")
    parser.add_argument("--skip-generator", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the generated store and lake.")
    parser.add_argument("--part", choices=["orders", "generator"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part == "orders":
        result = bench_orders(args.customers, args.lifetimes_customers)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return
    if args.part == "generator":
        print(json.dumps(bench_generator(args.contacts, args.days, args.keep)))
        return
    report: dict[str, Any] = {"machine": machine(), "load_average": os.getloadavg()}
    common = ["--customers", str(args.customers), "--lifetimes-customers", str(args.lifetimes_customers)]
    sizes = ["--contacts", str(args.contacts), "--days", str(args.days), *(["--keep"] if args.keep else [])]
    rec = Recorder(
        "sample",
        "Sample data: `aicmo generate` and the BG/NBD order simulator",
        f"The whole generator (`generate_dataset`, behind `aicmo generate`) at {args.contacts:,} contacts x "
        f"{args.days} days into a fresh SQLite store and lake; `simulate_bgnbd_orders` for {args.customers:,} "
        f"customers beside lifetimes' `beta_geometric_nbd_model` generator on {args.lifetimes_customers:,} "
        "customers (a Python loop per customer returning only per-customer summaries, no order log). Each "
        "run in its own process.",
        {k: str(v) for k, v in vars(args).items() if k != "part"},
    )
    orders_runs, generator_runs = [], []
    for _ in range(args.runs):
        orders_runs.append(_child(["--part", "orders", *common]))
        if not args.skip_generator:
            generator_runs.append(_child(["--part", "generator", *sizes]))
    report["orders"] = orders_runs
    report["generator"] = generator_runs
    print(json.dumps(report, indent=2))

    first = orders_runs[0]
    rec.check(
        "order log (after each run): every order inside the window with a positive amount, every customer "
        "with at least one order",
        "exact",
        all(o["orders_in_window"] and o["customers_with_orders"] == args.customers for o in orders_runs),
        f"{first['orders']:,} orders for {first['customers_with_orders']:,} of {args.customers:,} customers",
    )
    for o in orders_runs:
        rec.add(
            "ours: simulate_bgnbd_orders", "ours", "simulate", args.customers, "customers", Run(*o["run"])
        )
        if "lifetimes_run" in o:
            run = Run(*o["lifetimes_run"])
            rec.add("lifetimes: beta_geometric_nbd_model", "peer", "simulate", args.lifetimes_customers,
                    "customers", run)  # fmt: skip
    if "lifetimes_run" in first:
        per_customer = [
            (o["lifetimes_run"][0] / args.lifetimes_customers) / (o["run"][0] / args.customers)
            for o in orders_runs
        ]
        rec.note(
            "Per customer, lifetimes' generator over ours (runs at different sizes, so the ratio is per "
            f"customer): median {statistics.median(per_customer):.1f}x, range "
            f"{min(per_customer):.1f}-{max(per_customer):.1f}x; lifetimes returns no order log."
        )
    if generator_runs:
        g = generator_runs[0]
        rec.check(
            "generator (after each run): the events lake holds the events the summary reports",
            "exact",
            all(r["lake_events"] == r["events"] for r in generator_runs),
            f"{g['events']:,} events, {g['orders']:,} orders, {g['ad_spend_rows']:,} ad-spend rows, "
            f"lake {g['lake_mb']} MB",
        )
        for r in generator_runs:
            rec.add("ours: generate_dataset", "ours", "generate", args.contacts, "contacts", Run(*r["run"]))
        rec.note(
            "Generator stages, wall seconds per run: "
            + "; ".join(json.dumps(r["stages"]) for r in generator_runs)
        )
    rec.save(**peer_versions("lifetimes", "polars"))


if __name__ == "__main__":
    main()
