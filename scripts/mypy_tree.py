"""Lay out the package as it installs (``aicmo.flows`` from ``flows/``, ...) as symlinks for mypy.

mypy cannot follow setuptools' editable-install finder, so it type-checks this mirror instead,
where every module has its installed dotted name.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(target: Path) -> Path:
    """Create ``target/aicmo`` mirroring the installed package; returns it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dir: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    if target.exists():
        shutil.rmtree(target)
    top = target / "aicmo"
    top.mkdir(parents=True)
    for entry in (ROOT / package_dir["aicmo"]).iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    for package, folder in sorted(package_dir.items()):
        if package == "aicmo":
            continue
        link = target / Path(*package.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT / folder)
    return top


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".mypy_tree"))
