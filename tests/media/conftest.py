"""Media fixtures: media settings with small limits, a content store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicmo.settings import MediaSettings


@pytest.fixture
def media(tmp_path: Path) -> MediaSettings:
    """Settings of a library under ``tmp_path`` with a 2 MB file cap and a 4 Mpx image cap."""
    return MediaSettings(
        store_url=str(tmp_path / "media"),
        max_bytes=2_000_000,
        max_image_pixels=4_000_000,
        workers=1,
        fetch_timeout_s=2.0,
    )
