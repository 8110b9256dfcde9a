"""How long the ``aicmo`` command takes to answer ``--help`` and argument errors, as a whole process.

Each command runs ``--runs`` times in a fresh interpreter (after one warm-up run that fills the OS
file cache); the table gives the median wall time with the range, the median CPU time, and the same
for ``python -c pass`` (the interpreter's own start-up, the floor). Uses hyperfine when installed
(``--hyperfine``), else times the subprocesses itself. The load average is printed with the results:
on a shared machine it explains most of the spread. Before timing, each command's answer is checked
(help exits 0 with a usage line; an argument error exits non-zero with one line and no traceback).
Every run's wall and CPU seconds and the child's peak memory are recorded (``results.py``) for
``make bench``.

    python benchmarks/bench_cli_startup.py [--runs 20] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import Recorder, Run, peer_versions

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


def _time_once(cmd: list[str], env: dict[str, str], cwd: str) -> Run:
    """Wall and CPU (user + system of the child) seconds and the child's peak RSS of one run."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    return Run(wall, usage.ru_utime + usage.ru_stime, round(usage.ru_maxrss / 1024, 1))


def _check_answer(name: str, cmd: list[str], env: dict[str, str], cwd: str) -> tuple[bool, str]:
    """Help exits 0 and prints a usage line; an argument error exits non-zero with one line, no traceback."""
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if name.startswith("python"):
        return out.returncode == 0, f"exit {out.returncode}"
    if "--help" in cmd:
        ok = out.returncode == 0 and "Usage" in out.stdout
        return ok, f"exit {out.returncode}, usage line {'present' if 'Usage' in out.stdout else 'missing'}"
    text = (out.stderr + out.stdout).strip()
    ok = out.returncode != 0 and "Traceback" not in text and bool(text)
    return ok, f"exit {out.returncode}, {len(text.splitlines())} line(s) of output, no traceback: {ok}"


def _hyperfine(cmd: list[str], runs: int, env: dict[str, str], cwd: str) -> list[float]:
    """Wall times of ``runs`` runs measured by hyperfine."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            ["hyperfine", "--warmup", "1", "--runs", str(runs), "-N", "-i", "--export-json", out.name,
             subprocess.list2cmdline(cmd)],
            env=env, cwd=cwd, check=True, capture_output=True,
        )  # fmt: skip
        return list(json.loads(Path(out.name).read_text())["results"][0]["times"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--hyperfine", action="store_true", help="measure wall time with hyperfine")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.hyperfine and shutil.which("hyperfine") is None:
        parser.error("hyperfine is not installed")

    rec = Recorder(
        "cli_startup",
        "CLI start-up: `aicmo --help` and argument errors, whole process",
        f"Each command runs {args.runs} times in a fresh interpreter after one warm-up run (the OS file "
        "cache, .pyc files); `python -c pass` is the interpreter's own start, the floor. CPU is the child's "
        "user + system time; peak memory the child's resident-set high-water mark."
        + (" Wall times measured by hyperfine." if args.hyperfine else ""),
        {k: str(v) for k, v in vars(args).items()},
    )
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "AICMO_HOME": home, "COLUMNS": "120"}
        for name, cmd in COMMANDS.items():
            passed, detail = _check_answer(name, cmd, env, home)
            rec.check(f"`{name}` answers as a user expects", "exit code and output", passed, detail)
        results = []
        load_before = os.getloadavg()[0]
        for name, cmd in COMMANDS.items():
            _time_once(cmd, env, home)  # warm-up: the OS file cache, .pyc files
            if args.hyperfine:
                walls, cpus = _hyperfine(cmd, args.runs, env, home), []
            else:
                runs = [_time_once(cmd, env, home) for _ in range(args.runs)]
                walls, cpus = [r.seconds for r in runs], [r.cpu_seconds for r in runs]
                role = "floor" if name.startswith("python") else "ours"
                for run in runs:
                    rec.add(name, role, "whole process", 1, "command", run)
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
    if args.hyperfine:
        rec.note("Run with --hyperfine: the recorded runs above are empty; see the printed table.")
    rec.note("The target for `aicmo --help` and argument errors is 0.5 s wall on a quiet machine.")
    rec.save(**peer_versions("typer", "rich"))


if __name__ == "__main__":
    main()
