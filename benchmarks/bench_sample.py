"""Sample-data generation speed: the whole generator at ~10M events, and the BG/NBD order simulator.

1. ``generate_dataset`` (the code behind ``aicmo generate``) into a fresh SQLite store and lake
   under ``benchmarks/.data`` at ``--contacts`` x ``--days`` (105k x 365 gives about 10M events),
   with its per-stage timings, events per second and the peak RSS of the process.
2. ``simulate_bgnbd_orders`` for ``--customers`` customers (1M gives ~20M orders with the
   parameters below), beside lifetimes' ``beta_geometric_nbd_model`` data generator (a Python loop
   per customer that returns only the per-customer summary, not an order log) on
   ``--lifetimes-customers`` customers; the ratio is per customer.

    .venv/bin/python benchmarks/bench_sample.py --contacts 105000 --days 365 --customers 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import machine_info

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
    t0 = time.perf_counter()
    summary = generate_dataset(
        engine,
        Lake(str(root / "lake")),
        contacts=contacts,
        days=days,
        seed=7,
        end=END,
        assets_dir=root / "assets",
    )
    elapsed = time.perf_counter() - t0
    lake_bytes = sum(p.stat().st_size for p in (root / "lake").rglob("*.parquet"))
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
    }


def bench_orders(customers: int, lifetimes_customers: int) -> dict[str, Any]:
    from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, simulate_bgnbd_orders

    params = BgNbdParams(**HEAVY)
    t0 = time.perf_counter()
    orders = simulate_bgnbd_orders(customers, params, GammaGammaParams(), date(2023, 11, 1), END, seed=1)
    ours = time.perf_counter() - t0
    result: dict[str, Any] = {
        "customers": customers,
        "orders": orders.height,
        "ours_seconds": round(ours, 2),
        "ours_us_per_customer": round(ours / customers * 1e6, 2),
    }
    try:
        from lifetimes.generate_data import beta_geometric_nbd_model
    except ImportError:
        result["lifetimes"] = "not installed (pip install -e '.[bench]')"
        return result
    t0 = time.perf_counter()
    beta_geometric_nbd_model(
        365 * 3, HEAVY["r"], HEAVY["alpha"], HEAVY["a"], HEAVY["b"], size=lifetimes_customers
    )
    peer = time.perf_counter() - t0
    result.update(
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=105_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-customers", type=int, default=20_000)
    parser.add_argument("--skip-generator", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the generated store and lake.")
    parser.add_argument("--part", choices=["orders", "generator"], help=argparse.SUPPRESS)
    args = parser.parse_args()
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
    report["orders"] = _child(["--part", "orders", *common])
    if not args.skip_generator:
        sizes = [
            "--contacts",
            str(args.contacts),
            "--days",
            str(args.days),
            *(["--keep"] if args.keep else []),
        ]
        report["generator"] = _child(["--part", "generator", *sizes])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
