"""Charts show in the Prefect UI (the PNG travels inside the markdown) and each run keeps its own files."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

from aicmo.flows.run_log import run_folder
from aicmo.tasks.analytics.png import embedded_png_markdown, pyplot, save_png


def test_a_chart_is_embedded_as_a_png_data_uri(tmp_path: Path) -> None:
    fig, ax = pyplot().subplots(figsize=(2, 1), dpi=50)
    ax.plot([1, 2, 3], [3, 1, 2])
    path = save_png(fig, tmp_path / "kpi_trends.png")
    markdown = embedded_png_markdown("KPI trends", [("kpi trends", path)])
    found = re.search(r"!\[kpi trends\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert found is not None and "file://" not in markdown
    assert base64.b64decode(found.group(1)) == path.read_bytes()
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_each_run_gets_its_own_chart_folder(tmp_path: Path) -> None:
    first = run_folder(tmp_path, datetime(2026, 6, 10, 3, 30, tzinfo=UTC))
    second = run_folder(tmp_path, datetime(2026, 6, 11, 3, 30, tzinfo=UTC))
    assert first != second and first.parent == second.parent == tmp_path
