"""Machine-readable benchmark results: every run of every contender, with its CPU time and peak memory.

A benchmark measures each contender with :func:`measure` (wall seconds, process CPU seconds of
all threads, and the resident-set peak during the call, sampled every 5 ms), records the runs in a
:class:`Recorder` together with the equality checks it made before timing, and :meth:`Recorder.save`
writes them as JSON. ``benchmarks/run_all.py`` merges the files of one ``make bench`` into
``benchmarks/results.json`` and ``benchmarks/render_docs.py`` writes docs/BENCHMARKS.md from it,
so every figure in the docs is a recorded run.

The file goes to ``$AICMO_BENCH_RESULTS/<benchmark>.json`` when that variable is set (run_all sets
it), else nowhere: a benchmark run by hand prints its report as before.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import machine_info

T = TypeVar("T")
RESULTS_ENV = "AICMO_BENCH_RESULTS"
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20


def peer_versions(*dists: str) -> dict[str, str]:
    """Installed versions of the named distributions (the peers), for the machine record."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


@dataclass(frozen=True)
class Run:
    """One timed call: wall seconds, CPU seconds of the whole process (all threads), peak RSS in MB."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float


def _rss_mb() -> float:
    """The process's resident set now, in MB (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_MB
    except (OSError, IndexError, ValueError):
        return 0.0


class _PeakSampler:
    """Samples the resident set in a background thread while a call runs; keeps the highest."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def measure(fn: Callable[[], T]) -> tuple[T, Run]:
    """Call ``fn`` once (after a garbage collection) and return its result and :class:`Run`."""
    gc.collect()
    with _PeakSampler() as sampler:
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
    return result, Run(seconds=wall, cpu_seconds=cpu, peak_rss_mb=round(sampler.peak, 1))


@dataclass
class Record:
    """All runs of one contender at one stage and size."""

    contender: str
    role: str  # "ours" or "peer"
    stage: str  # what the runs time, e.g. "end to end", "path building", "model fit"
    size: int
    unit: str  # what size counts: "journeys", "events", "rows", ...
    runs: list[Run] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        seconds = [r.seconds for r in self.runs]
        return {
            "contender": self.contender,
            "role": self.role,
            "stage": self.stage,
            "size": self.size,
            "unit": self.unit,
            "seconds": seconds,
            "cpu_seconds": [r.cpu_seconds for r in self.runs],
            "peak_rss_mb": [r.peak_rss_mb for r in self.runs],
            "median_s": statistics.median(seconds) if seconds else None,
            "note": self.note,
        }


@dataclass(frozen=True)
class Check:
    """An equality check made before timing: what was compared, the tolerance, and whether it held."""

    what: str
    tolerance: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Ratio:
    """A ratio the report states: ``peer``'s median over ``ours``' median, for one stage and size."""

    peer: str
    ours: str
    stage: str
    size: int


class Recorder:
    """Collects the records, checks and ratios of one benchmark and writes them as JSON."""

    def __init__(self, benchmark: str, title: str, description: str, params: dict[str, Any]) -> None:
        self.benchmark = benchmark
        self.title = title
        self.description = description
        self.params = params
        self.records: dict[tuple[str, str, int], Record] = {}
        self.checks: list[Check] = []
        self.ratios: list[Ratio] = []
        self.notes: list[str] = []
        self.load_start = [round(x, 2) for x in os.getloadavg()]

    def add(
        self, contender: str, role: str, stage: str, size: int, unit: str, run: Run, note: str = ""
    ) -> None:
        """Append ``run`` to the record of (contender, stage, size)."""
        key = (contender, stage, size)
        if key not in self.records:
            self.records[key] = Record(contender, role, stage, size, unit, note=note)
        self.records[key].runs.append(run)

    def time(
        self, contender: str, role: str, stage: str, size: int, unit: str, fn: Callable[[], T], note: str = ""
    ) -> T:
        """Measure one call of ``fn``, record it, return its result."""
        result, run = measure(fn)
        self.add(contender, role, stage, size, unit, run, note)
        return result

    def add_sum(self, contender: str, stage: str, parts: tuple[str, ...]) -> None:
        """A stage whose every run is the sum of the same run of ``parts`` (wall and CPU added, peak the max)."""
        records = [self.records[k] for k in self.records if k[0] == contender and k[1] in parts]
        if len(records) != len(parts):
            return
        first = records[0]
        for i in range(min(len(r.runs) for r in records)):
            runs = [r.runs[i] for r in records]
            total = Run(
                sum(r.seconds for r in runs),
                sum(r.cpu_seconds for r in runs),
                max(r.peak_rss_mb for r in runs),
            )
            self.add(contender, first.role, stage, first.size, first.unit, total, note=" + ".join(parts))

    def check(self, what: str, tolerance: str, passed: bool, detail: str = "") -> None:
        """Record an equality check; a failed check stops the benchmark (nothing unequal is timed)."""
        self.checks.append(Check(what, tolerance, bool(passed), detail))
        if not passed:
            raise SystemExit(f"{self.benchmark}: check failed: {what} ({detail})")

    def ratio(self, peer: str, ours: str, stage: str, size: int) -> None:
        """Declare that the report shows ``peer`` / ``ours`` for this stage and size."""
        self.ratios.append(Ratio(peer, ours, stage, size))

    def note(self, text: str) -> None:
        """A sentence the report prints under the benchmark's tables."""
        self.notes.append(text)

    def as_dict(self, **versions: str) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "title": self.title,
            "description": self.description,
            "params": self.params,
            "machine": machine_info.machine(**versions),
            "load_avg_start": self.load_start,
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "records": [r.as_dict() for r in self.records.values()],
            "checks": [asdict(c) for c in self.checks],
            "ratios": [asdict(r) for r in self.ratios],
            "notes": self.notes,
        }

    def save(self, **versions: str) -> Path | None:
        """Write ``$AICMO_BENCH_RESULTS/<benchmark>.json`` (if set); print a short summary either way."""
        data = self.as_dict(**versions)
        for r in data["records"]:
            print(
                f"  {r['contender']:<40} {r['stage']:<22} {r['size']:>10,} {r['unit']:<10} "
                f"median {r['median_s']:.3f} s over {len(r['seconds'])} runs"
            )
        folder = os.environ.get(RESULTS_ENV)
        if not folder:
            return None
        path = Path(folder) / f"{self.benchmark}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, default=str))
        return path
