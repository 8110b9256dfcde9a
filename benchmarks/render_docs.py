"""Write docs/BENCHMARKS.md from benchmarks/results.json: every figure in it is a recorded run.

Per benchmark: what was compared, the equality checks made before timing (what, tolerance,
outcome), the median wall time of each contender and stage with the range of the runs, CPU
seconds and peak memory, the ratios (peer median / ours median, with the range the runs allow),
the machine, the load average and the sizes the runs used. Hand-written context for a
benchmark lives in ``docs/benchmarks/<benchmark>.md`` and is appended under its tables; scripts
that do not record their contenders yet get their whole-process figures and that context only.

    .venv/bin/python benchmarks/render_docs.py [benchmarks/results.json] [--out docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
from pathlib import Path
from typing import Any

import machine_info
from run_all import SCRIPTS

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT / "docs" / "benchmarks"
DEFAULT_DOC = ROOT / "docs" / "BENCHMARKS.md"


def secs(x: float) -> str:
    """Seconds with three significant digits (ms below 0.1 s)."""
    if x < 0.1:
        return f"{x * 1000:.3g} ms"
    return f"{x:.3g} s"


def spread(values: list[float]) -> str:
    """'median (min-max)' of the runs, or the single value."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return secs(med)
    return f"{secs(med)} ({secs(min(values))}-{secs(max(values))})"


def escape(text: Any) -> str:
    """A value made safe for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def ratio_row(bench: dict[str, Any], ratio: dict[str, Any]) -> str | None:
    """One ratio line: peer median / ours median, and the range the runs allow."""
    recs = {(r["contender"], r["stage"], r["size"]): r for r in bench["records"]}
    peer = recs.get((ratio["peer"], ratio["stage"], ratio["size"]))
    ours = recs.get((ratio["ours"], ratio["stage"], ratio["size"]))
    if not peer or not ours or not peer["seconds"] or not ours["seconds"]:
        return None
    med = statistics.median(peer["seconds"]) / statistics.median(ours["seconds"])
    low = min(peer["seconds"]) / max(ours["seconds"])
    high = max(peer["seconds"]) / min(ours["seconds"])
    cpu = statistics.median(peer["cpu_seconds"]) / max(statistics.median(ours["cpu_seconds"]), 1e-9)
    return (
        f"| {escape(ratio['peer'])} / {escape(ratio['ours'])} | {escape(ratio['stage'])} | {ratio['size']:,} "
        f"| **{med:.2f}x** | {low:.2f}-{high:.2f}x | {cpu:.2f}x |"
    )


def render_benchmark(bench: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    """The section of one recorded benchmark."""
    out = [f"## {bench['title']}", ""]
    machine = bench["machine"]
    out += [
        f"`benchmarks/{entry['script']}` {escape(shlex.join(entry['args'])) or '(default sizes)'}, run "
        f"{entry['started_at']}. {bench['description']}",
        "",
        f"Machine: {machine_info.describe(machine)}. Load average (1, 5, 15 min) {bench['load_avg_start']} "
        f"at the start, {bench['load_avg_end']} at the end.",
        "",
    ]
    if bench["checks"]:
        out += ["**Checked equal before timing** (a failed check stops the benchmark before any figure):", ""]
        for c in bench["checks"]:
            verdict = "passed" if c["passed"] else "FAILED"
            detail = f": {c['detail']}" if c["detail"] else ""
            out.append(f"- {c['what']} (tolerance: {c['tolerance']}): {verdict}{detail}")
        out.append("")
    sizes = sorted({(r["size"], r["unit"]) for r in bench["records"]}, reverse=True)
    for size, unit in sizes:  # one table per size and unit: 10 files and 10 queries are apart
        recs = [r for r in bench["records"] if r["size"] == size and r["unit"] == unit]
        stages = list(dict.fromkeys(r["stage"] for r in recs))
        contenders = list(dict.fromkeys(r["contender"] for r in recs))
        runs = sorted({len(r["seconds"]) for r in recs})
        out += [
            f"**{size:,} {unit}**: wall time, median of {'/'.join(map(str, runs))} runs (range):",
            "",
            "| contender | " + " | ".join(escape(s) for s in stages) + " |",
            "| --- | " + " | ".join("---:" for _ in stages) + " |",
        ]
        by_key = {(r["contender"], r["stage"]): r for r in recs}
        for name in contenders:
            cells = [spread(by_key[(name, s)]["seconds"]) if (name, s) in by_key else "-" for s in stages]
            out.append(f"| {escape(name)} | " + " | ".join(cells) + " |")
        out += ["", "CPU seconds (process, all threads; median) and peak resident memory (largest run):", ""]
        out += ["| contender | stage | CPU | peak RSS |", "| --- | --- | ---: | ---: |"]
        for r in recs:
            cpu = statistics.median(r["cpu_seconds"]) if r["cpu_seconds"] else 0.0
            peak = max(r["peak_rss_mb"]) if r["peak_rss_mb"] else 0.0
            out.append(f"| {escape(r['contender'])} | {escape(r['stage'])} | {secs(cpu)} | {peak:,.0f} MB |")
        out.append("")
    rows = [row for ratio in bench["ratios"] if (row := ratio_row(bench, ratio))]
    if rows:
        out += [
            "**Ratios** (peer / ours: above 1 means ours is faster; range: slowest over fastest runs):",
            "",
            "| ratio | stage | size | wall, medians | wall, range | CPU, medians |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
        ]
    out += [f"- {note}" for note in bench["notes"]]
    if bench["notes"]:
        out.append("")
    out += notes_of(bench["benchmark"])
    return out


def notes_of(key: str) -> list[str]:
    """Hand-written context of a benchmark (``docs/benchmarks/<key>.md``), if any."""
    path = NOTES / f"{key}.md"
    if not path.exists():
        return []
    return [path.read_text().rstrip(), ""]


def render_script_only(entry: dict[str, Any]) -> list[str]:
    """A script that records no contenders: its process figures and hand-written context."""
    key = entry["script"].removeprefix("bench_").removesuffix(".py")
    p = entry["process"]
    out = [
        f"## `{entry['script']}`",
        "",
        f"Not yet recording its contenders in results.json. Last run {entry['started_at']} with "
        f"`{escape(shlex.join(entry['args'])) or '(default sizes)'}`: exit {entry['exit_code']}, whole script "
        f"{secs(p['seconds'])} wall, {secs(p['cpu_seconds'])} CPU, {p['peak_rss_mb']:,.0f} MB peak; load "
        f"{entry['load_avg_start']} -> {entry['load_avg_end']}.",
        "",
    ]
    return out + notes_of(key)


def render(data: dict[str, Any]) -> str:
    """The whole document."""
    scripts = data.get("scripts", [])
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/render_docs.py from benchmarks/results.json; edit those, not this file."
        " Hand-written context per benchmark: docs/benchmarks/<benchmark>.md. -->",
        "",
        "Every figure below is a recorded run in `benchmarks/results.json`, written by `make bench`"
        " (`benchmarks/run_all.py`). A time is the **median of the runs with their range** (never the best"
        " run); a ratio is the peer's median over ours, with the range the runs allow. CPU seconds are the"
        " process's, all threads; peak memory is the process's resident-set high-water mark during a run"
        " (sampled every 5 ms), so it includes what the process held before the run. Each peer is written"
        " the way its documentation and an expert would write it, on the same input, and the outputs are"
        " checked equal before timing (each section lists its checks). Peers install with the `bench`"
        " extra: `pip install -e '.[bench]'`.",
        "",
        f"Machine: {machine_info.describe(data['machine'])}." if data.get("machine") else "",
        "The machine is shared (2 cores, often with other jobs): read each section's load average; ratios"
        " from interleaved runs are steadier than absolute times.",
        "",
        "## Sizes run",
        "",
        "The arguments each script ran with (its defaults are the full sizes; smaller arguments mean the run"
        " was cut down to finish on a loaded machine), when, and the load average at its start:",
        "",
        "| script | arguments | run at | exit | load at start |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for e in scripts:
        out.append(
            f"| `{e['script']}` | `{escape(shlex.join(e['args'])) or '(defaults)'}` | {e['started_at']} | "
            f"{e['exit_code']} | {e['load_avg_start']} |"
        )
    out.append("")
    for e in scripts:
        if e["benchmarks"]:
            for bench in e["benchmarks"]:
                out += render_benchmark(bench, e)
        else:
            out += render_script_only(e)
    ran = {e["script"] for e in scripts}
    for script in SCRIPTS:
        if script not in ran:
            out += [f"## `{script}`", "", "Not run into this results file yet.", ""]
            out += notes_of(script.removeprefix("bench_").removesuffix(".py"))
    out += [
        "## Anomaly detector: false alarms and detection rate",
        "",
        "`benchmarks/anomaly_false_alarms.py` measures the detector's error rates over generated windows, not a"
        " timing against a peer; its figures and the settings chosen from them are in"
        " [ANALYTICS.md](ANALYTICS.md).",
        "",
        *notes_of("test_suite"),
    ]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    """Read the results file, write the document."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "results", nargs="?", type=Path, default=Path(__file__).resolve().parent / "results.json"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_DOC)
    args = parser.parse_args(argv)
    args.out.write_text(render(json.loads(args.results.read_text())))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
