"""The recording benchmarks at tiny sizes: each one's equality checks pass and its JSON has every field.

Run in this process (the scripts' ``main`` with tiny arguments) so the imports are paid once; the
sizes are ``run_all.SMOKE_ARGS``. The figures themselves are not asserted: timings belong to
``make bench``, not to the test suite. Benchmarks whose peers are not installed (the ``bench``
extra) are skipped.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
RUN_FIELDS = {
    "contender",
    "role",
    "stage",
    "size",
    "unit",
    "seconds",
    "cpu_seconds",
    "peak_rss_mb",
    "median_s",
}
BENCH_FIELDS = {"benchmark", "title", "description", "params", "machine", "records", "checks", "ratios"}
PEERS = {
    "bench_attribution.py": ["ChannelAttribution", "pandas"],
    "bench_kpis.py": ["duckdb", "pandas"],
    "bench_crm.py": ["duckdb", "pandas"],
    "bench_ltv.py": ["lifetimes", "pandas"],
    "bench_store.py": [],
    "bench_cohorts.py": ["duckdb", "pandas"],
    "bench_ads_import.py": ["pandas"],
    "bench_publish.py": ["aiosmtpd", "aiosmtplib", "standardwebhooks"],
}
EXPECTED = {
    "bench_attribution.py": ["attribution"],
    "bench_kpis.py": ["kpis"],
    "bench_crm.py": ["crm_import", "crm_segments"],
    "bench_ltv.py": ["ltv"],
    "bench_store.py": ["store"],
    "bench_cohorts.py": ["cohorts"],
    "bench_ads_import.py": ["ads_import"],
    "bench_publish.py": ["publish"],
}


def bench_module(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_checks_pass_and_results_have_every_field(
    script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for peer in PEERS[script]:
        pytest.importorskip(peer)
    run_all = bench_module("run_all")
    module = bench_module(script.removesuffix(".py"))
    monkeypatch.setenv("AICMO_BENCH_RESULTS", str(tmp_path / "results"))
    if hasattr(module, "DATA"):
        monkeypatch.setattr(module, "DATA", tmp_path / "data")
    args = list(run_all.SMOKE_ARGS[script])
    if script == "bench_kpis.py":
        args.append("--in-process")
    if script in ("bench_ltv.py", "bench_cohorts.py"):
        args += ["--data-dir", str(tmp_path / "data")]
    module.main(args)

    for name in EXPECTED[script]:
        bench = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        assert set(bench) >= BENCH_FIELDS
        assert {"nproc", "cpu", "ram_gb", "load_avg", "python"} <= set(bench["machine"])
        assert bench["checks"] and all(c["passed"] for c in bench["checks"])
        assert {r["role"] for r in bench["records"]} >= {"ours"}
        for record in bench["records"]:
            assert set(record) >= RUN_FIELDS
            assert len(record["seconds"]) == len(record["cpu_seconds"]) == len(record["peak_rss_mb"]) >= 1
        entry = {
            "script": script,
            "args": args,
            "started_at": "2026-11-24T00:00:00+00:00",
            "exit_code": 0,
            "process": {"seconds": 1.0, "cpu_seconds": 1.0, "peak_rss_mb": 1.0},
            "load_avg_start": [0.0, 0.0, 0.0],
            "load_avg_end": [0.0, 0.0, 0.0],
            "benchmarks": [bench],
        }
        out = tmp_path / "results.json"
        data = run_all.merge(out, [entry])
        doc = bench_module("render_docs").render(data)
        assert bench["title"] in doc and "Checked equal before timing" in doc
