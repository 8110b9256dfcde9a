"""Run every benchmark beside its peer, one process each, at full size or ``--quick`` size.

Full sizes are the ones docs/BENCHMARKS.md reports (tens of minutes in all on 2 cores); ``--quick``
runs each at a tenth or less, to check that every benchmark and peer still runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK_ARGS: dict[str, list[str]] = {
    "bench_gateway.py": [
        "--items",
        "2000",
        "--repeat",
        "1",
        "--slow-items",
        "500",
        "--sequential-items",
        "100",
    ],
    "bench_failover.py": ["--samples", "2", "--slow-samples", "1", "--retry-timeout-samples", "1"],
    "bench_crm.py": ["--rows", "20000", "--contacts", "200000", "--sql-rows", "200000"],
    "bench_sample.py": ["--contacts", "10000", "--days", "60", "--customers", "100000"],
    "bench_store.py": ["--rows", "20000", "--merge-rows", "1000", "--runs", "1"],
    "bench_kpis.py": ["--events", "5000000", "--runs", "1"],
    "bench_attribution.py": ["--journeys", "500000", "--runs", "1"],
    "bench_ltv.py": ["--customers", "100000", "--runs", "1"],
    "bench_cohorts.py": ["--customers", "100000", "--runs", "1"],
    "bench_tracking.py": ["--requests", "1000", "--rounds", "1"],
    "bench_ads_import.py": ["--ad-sets", "100", "--days", "90", "--runs", "1"],
    "bench_media.py": [
        "--hash-files",
        "10",
        "--hashes",
        "30000",
        "--queries",
        "200",
        "--tree-queries",
        "10",
        "--ingest-files",
        "100",
        "--runs",
        "1",
    ],
    "bench_orchestration.py": ["--contacts", "500", "--days", "14", "--runs", "1"],
    "bench_publish.py": [
        "--emails",
        "2000",
        "--per-message-emails",
        "200",
        "--webhooks",
        "2000",
        "--repeat",
        "1",
    ],
}


def main() -> int:
    """Run the benchmarks named (default: all) and report which failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("only", nargs="*", help="benchmark files to run (default: all)")
    args = parser.parse_args()
    names = args.only or sorted(QUICK_ARGS)
    failed = []
    for name in names:
        extra = QUICK_ARGS.get(name, []) if args.quick else []
        print(f"== {name} {' '.join(extra)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(HERE / name), *extra], check=False)
        print(f"== {name}: exit {result.returncode} after {time.perf_counter() - started:.0f} s", flush=True)
        if result.returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
