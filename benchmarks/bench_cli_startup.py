"""How long the ``aicmo`` command takes to answer ``--help`` and argument errors, as a whole process.

Each command runs ``--runs`` times in a fresh interpreter (after one warm-up run that fills the OS
file cache); the table gives the median wall time with the range, the median CPU time, and the same
for ``python -c pass`` (the interpreter's own start-up, the floor). Uses hyperfine when installed
(``--hyperfine``), else times the subprocesses itself. The load average is printed with the results:
on a shared machine it explains most of the spread.

    python benchmarks/bench_cli_startup.py [--runs 20] [--json results.json]
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
import tempfile
import time
from pathlib import Path

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]
COMMANDS: dict[str, list[str]] = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "aicmo --help": [*AICMO, "--help"],
    "aicmo analytics --help": [*AICMO, "analytics", "--help"],
    "aicmo pipeline backfill --help": [*AICMO, "pipeline", "backfill", "--help"],
    "aicmo contacts import (missing FILE)": [*AICMO, "contacts", "import"],
    "aicmo pipeline backfill 2026-13-01 2026-01-02 (bad date)": [
        *AICMO,
        "pipeline",
        "backfill",
        "2026-13-01",
        "2026-01-02",
    ],
}


def _time_once(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall and CPU (user + system, children included) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _hyperfine(cmd: list[str], runs: int, env: dict[str, str], cwd: str) -> list[float]:
    """Wall times of ``runs`` runs measured by hyperfine."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            ["hyperfine", "--warmup", "1", "--runs", str(runs), "-N", "-i", "--export-json", out.name,
             subprocess.list2cmdline(cmd)],
            env=env, cwd=cwd, check=True, capture_output=True,
        )  # fmt: skip
        return list(json.loads(Path(out.name).read_text())["results"][0]["times"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hyperfine", action="store_true", help="measure wall time with hyperfine")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.hyperfine and shutil.which("hyperfine") is None:
        parser.error("hyperfine is not installed")

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "AICMO_HOME": home, "COLUMNS": "120"}
        results = []
        load_before = os.getloadavg()[0]
        for name, cmd in COMMANDS.items():
            _time_once(cmd, env, home)  # warm-up: the OS file cache, .pyc files
            if args.hyperfine:
                walls, cpus = _hyperfine(cmd, args.runs, env, home), []
            else:
                pairs = [_time_once(cmd, env, home) for _ in range(args.runs)]
                walls, cpus = [w for w, _ in pairs], [c for _, c in pairs]
            results.append(
                {
                    "command": name,
                    "runs": args.runs,
                    "median_s": statistics.median(walls),
                    "min_s": min(walls),
                    "max_s": max(walls),
                    "median_cpu_s": statistics.median(cpus) if cpus else None,
                }
            )
        load_after = os.getloadavg()[0]

    print(f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} CPUs")
    print("| command | median wall (s) | range (s) | median CPU (s) |")
    print("| --- | ---: | ---: | ---: |")
    for r in results:
        cpu = "-" if r["median_cpu_s"] is None else f"{r['median_cpu_s']:.3f}"
        print(f"| `{r['command']}` | {r['median_s']:.3f} | {r['min_s']:.3f}-{r['max_s']:.3f} | {cpu} |")
    if args.json:
        machine = {"cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after}
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))


if __name__ == "__main__":
    main()
