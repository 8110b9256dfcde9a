"""Run the benchmarks beside their peers, record every run in benchmarks/results.json, regenerate the docs.

Each benchmark script runs in its own process with ``AICMO_BENCH_RESULTS`` pointing at a fresh
folder; scripts that record their contenders (see ``results.py``) leave one JSON file per
benchmark there: every run's wall seconds, CPU seconds and peak memory, the equality checks
made before timing, and the ratios to report. For every script this file also keeps the whole
process's wall and CPU time, peak memory, exit code, arguments, and the load average before and
after, so a script that does not record its contenders yet is still accounted for.

Results merge into ``--out`` (default ``benchmarks/results.json``): the scripts run now replace
their earlier entries, the others are kept with their own date, machine and sizes. Then
``render_docs.py`` writes docs/BENCHMARKS.md from the file (``--no-docs`` skips that).

Sizes: the scripts' defaults (full size), ``--quick`` (a tenth or less, to check that everything
still runs), ``--smoke`` (tiny, for the test suite), or ``--set 'bench_kpis.py=--events 5000000'``
to give one script its own arguments (repeatable). The sizes each entry ran at are in the file
and in the docs.

    .venv/bin/python benchmarks/run_all.py --quick bench_store.py bench_ltv.py
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import machine_info
from results import RESULTS_ENV

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results.json"

SCRIPTS = [
    "bench_ads_import.py",
    "bench_attribution.py",
    "bench_cli_startup.py",
    "bench_cohorts.py",
    "bench_failover.py",
    "bench_crm.py",
    "bench_gateway.py",
    "bench_kpis.py",
    "bench_ltv.py",
    "bench_media.py",
    "bench_orchestration.py",
    "bench_publish.py",
    "bench_sample.py",
    "bench_store.py",
    "bench_tracking.py",
]
"""Every benchmark ``make bench`` runs (anomaly_false_alarms.py measures error rates, not speed)."""

QUICK_ARGS: dict[str, list[str]] = {
    "bench_gateway.py": [
        "--items",
        "2000",
        "--repeat",
        "2",
        "--slow-items",
        "500",
        "--sequential-items",
        "100",
    ],
    "bench_failover.py": ["--samples", "3", "--slow-samples", "1", "--retry-timeout-samples", "1"],
    "bench_crm.py": ["--rows", "20000", "--contacts", "200000", "--sql-rows", "200000", "--repeat", "3"],
    "bench_cli_startup.py": ["--runs", "3"],
    "bench_sample.py": ["--contacts", "10000", "--days", "60", "--customers", "100000", "--runs", "2"],
    "bench_store.py": ["--rows", "20000", "--runs", "3"],
    "bench_kpis.py": ["--events", "5000000", "--pandas-events", "1000000", "--runs", "3"],
    "bench_attribution.py": ["--journeys", "200000", "--runs", "3"],
    "bench_ltv.py": ["--customers", "100000", "--runs", "3"],
    "bench_cohorts.py": ["--customers", "100000", "--runs", "3"],
    "bench_tracking.py": ["--requests", "1000", "--rounds", "3"],
    "bench_ads_import.py": ["--ad-sets", "100", "--days", "90", "--runs", "3"],
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
        "3",
        "--runs-ingest",
        "2",
    ],
    "bench_orchestration.py": ["--contacts", "500", "--days", "14", "--runs", "1"],
    "bench_publish.py": [
        "--emails",
        "2000",
        "--per-message-emails",
        "200",
        "--latency-ms",
        "0",
        "10",
        "--latency-emails",
        "300",
        "--latency-per-message-emails",
        "30",
        "--webhooks",
        "2000",
        "--latency-webhooks",
        "2000",
        "--repeat",
        "1",
    ],
}

SMOKE_ARGS: dict[str, list[str]] = {
    "bench_attribution.py": [
        "--journeys",
        "1500",
        "--runs",
        "1",
        "--nsim",
        "10000",
        "--share-tolerance",
        "5",
    ],
    "bench_kpis.py": ["--events", "30000", "--days", "3", "--pandas-events", "10000", "--runs", "1"],
    "bench_store.py": ["--rows", "200", "--chunk", "100", "--runs", "1", "--sqlite", "sqlite://"],
    "bench_crm.py": ["--rows", "100", "--contacts", "2000", "--sql-rows", "300", "--repeat", "1"],
    "bench_ltv.py": ["--customers", "600", "--runs", "1", "--param-tolerance", "1e-2"],
    "bench_cohorts.py": ["--customers", "600", "--runs", "1"],
    "bench_ads_import.py": ["--ad-sets", "5", "--days", "10", "--runs", "1"],
    "bench_publish.py": [
        "--relay",
        "plain",
        "--emails",
        "20",
        "--per-message-emails",
        "3",
        "--latency-ms",
        "0",
        "2",
        "--latency-emails",
        "10",
        "--latency-per-message-emails",
        "2",
        "--webhooks",
        "20",
        "--latency-webhooks",
        "10",
        "--repeat",
        "1",
    ],
}
"""Tiny sizes: each recording benchmark's checks and JSON, in seconds (tests/test_benchmarks_smoke.py)."""


def run_script(name: str, args: list[str], results_dir: Path) -> dict[str, Any]:
    """Run one script; return its process figures and the benchmark files it recorded."""
    before = set(results_dir.glob("*.json"))
    load_start = [round(x, 2) for x in os.getloadavg()]
    env = {**os.environ, RESULTS_ENV: str(results_dir)}
    print(f"== {name} {shlex.join(args)}", flush=True)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    wall0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(HERE / name), *args], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - wall0
    print(f"== {name}: exit {proc.returncode} after {wall:.0f} s", flush=True)
    recorded = [json.loads(p.read_text()) for p in sorted(set(results_dir.glob("*.json")) - before)]
    return {
        "script": name,
        "args": args,
        "started_at": started_at,
        "exit_code": proc.returncode,
        "process": {
            "seconds": round(wall, 3),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        },
        "load_avg_start": load_start,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "benchmarks": recorded,
    }


def merge(out: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The results file with ``entries`` replacing the same scripts' earlier entries."""
    data: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    scripts = {e["script"]: e for e in data.get("scripts", [])}
    scripts.update({e["script"]: e for e in entries})
    data["scripts"] = [scripts[k] for k in sorted(scripts)]
    data["machine"] = machine_info.machine()
    data["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return data


def parse_sets(values: list[str]) -> dict[str, list[str]]:
    """``--set 'script=args'`` values as a mapping."""
    out = {}
    for value in values:
        name, _, rest = value.partition("=")
        out[name.strip()] = shlex.split(rest)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the scripts named (default: all), merge their results, regenerate the docs; 1 if any failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="small sizes, to check that everything runs")
    sizes.add_argument("--smoke", action="store_true", help="tiny sizes, the recording benchmarks only")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SCRIPT=ARGS", help="one script's arguments"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true", help="do not regenerate docs/BENCHMARKS.md")
    parser.add_argument("only", nargs="*", help="benchmark scripts to run (default: all)")
    args = parser.parse_args(argv)
    preset = SMOKE_ARGS if args.smoke else QUICK_ARGS if args.quick else {}
    names = args.only or (sorted(SMOKE_ARGS) if args.smoke else SCRIPTS)
    overrides = parse_sets(args.set)
    entries = []
    with tempfile.TemporaryDirectory(prefix="aicmo-bench-") as tmp:
        for name in names:
            entries.append(run_script(name, overrides.get(name, preset.get(name, [])), Path(tmp) / name))
    merge(args.out, entries)
    print(f"results: {args.out}", flush=True)
    if not args.no_docs:
        import render_docs

        render_docs.main([str(args.out)])
    failed = [e["script"] for e in entries if e["exit_code"]]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
