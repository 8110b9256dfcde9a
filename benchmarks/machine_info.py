"""What machine a benchmark ran on (cores, CPU model, RAM, load), for every report alike."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def machine(**versions: str) -> dict[str, Any]:
    """nproc, CPU model, RAM, load average and Python, plus the library ``versions`` given."""
    cpu = platform.processor() or "unknown CPU"
    ram_gb = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        **versions,
    }


def describe(info: dict[str, Any]) -> str:
    """One line: '2 CPUs (AMD EPYC), 23.5 GiB RAM, Python 3.11.7, polars 2.1.0'."""
    extras = ", ".join(
        f"{k} {v}" for k, v in info.items() if k not in ("nproc", "cpu", "ram_gb", "load_avg", "python")
    )
    return f"{info['nproc']} CPUs ({info['cpu']}), {info['ram_gb']} GiB RAM, Python {info['python']}" + (
        f", {extras}" if extras else ""
    )
