"""Helpers of the CRM tests: the sample files and a store with a few contacts."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """The folder of real sample CSV files (odd encodings, BOM, semicolons, bad rows)."""
    return DATA
