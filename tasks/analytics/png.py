"""Charts as files: matplotlib on its file-only backend, and PNGs written whole or not at all."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend (no display needed, imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path, *, dpi: int | None = None) -> Path:
    """Lay ``fig`` out and write it to ``path`` atomically: a temporary file, then a rename."""
    fig.tight_layout()
    tmp = path.with_suffix(".png.inprogress")
    fig.savefig(tmp, format="png", **({"dpi": dpi} if dpi else {}))
    tmp.replace(path)
    return path
