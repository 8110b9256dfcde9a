"""Charts as files: matplotlib figures off the pyplot state machine, PNGs written whole or not at all,
and embedded in markdown so the Prefect UI shows them.

Figures are built as plain ``matplotlib.figure.Figure`` objects (the Agg canvas), never registered
with pyplot's global figure list, so charts drawn by concurrent runs in one process (a backfill's
parallel days) do not meet. A Prefect image artifact only links to a URL, and a ``file://`` link
shows as a broken image in the UI; :func:`embedded_png_markdown` puts the PNG's bytes in the
markdown itself (a ``data:`` URI), so the chart is visible wherever the artifact is.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class _Figures:
    """The two pyplot calls the charts use, on figures that pyplot does not track."""

    @staticmethod
    def subplots(*args: Any, figsize: Any = None, dpi: Any = None, **kwargs: Any) -> tuple[Any, Any]:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, dpi=dpi)
        return fig, fig.subplots(*args, **kwargs)

    @staticmethod
    def close(fig: Any) -> None:
        """Nothing to release: the figure is garbage once unreferenced."""


def pyplot() -> Any:
    """A thread-safe stand-in for ``matplotlib.pyplot`` offering ``subplots`` and ``close``."""
    return _Figures()


def save_png(fig: Any, path: Path, *, dpi: int | None = None) -> Path:
    """Lay ``fig`` out and write it to ``path`` atomically: a temporary file, then a rename."""
    fig.tight_layout()
    tmp = path.with_suffix(".png.inprogress")
    fig.savefig(tmp, format="png", **({"dpi": dpi} if dpi else {}))
    tmp.replace(path)
    return path


def png_data_uri(path: Path) -> str:
    """The PNG at ``path`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def embedded_png_markdown(title: str, charts: Iterable[tuple[str, Path]]) -> str:
    """A markdown document with each ``(caption, png path)`` embedded, and the file it was kept in."""
    lines = [f"# {title}", ""]
    for caption, path in charts:
        lines += [f"## {caption}", "", f"![{caption}]({png_data_uri(path)})", "", f"kept as `{path}`", ""]
    return "\n".join(lines)
