"""``aicmo providers lookup``: prints who answered what, and exits non-zero when a lookup failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicmo.fakes.provider_server import FakeProviderServer
from tests.crm.helpers import run_cli
from tests.one_line import one_error_line


def test_lookup_exit_code_says_whether_every_key_was_answered(
    aicmo_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    with FakeProviderServer() as server:
        for key, value in server.settings_env().items():
            monkeypatch.setenv(key, value)
        code, out, err = run_cli(capsys, "providers", "lookup", "weather_by_city", "Paris")
        assert code == 0, err
        assert "Paris" in out and "found" in out

        server.faults.fail("openweather.weather", 400, when=lambda city: city.lower() == "rome")
        code, out, err = run_cli(capsys, "providers", "lookup", "weather_by_city", "Paris", "Rome")
    assert code == 1
    assert "1 of 2 lookup(s) failed: Rome" in one_error_line(err)
