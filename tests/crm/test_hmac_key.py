"""The HMAC key: generated once per installation, private, stable, and overridable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aicmo.settings import get_settings, reset_settings
from aicmo.tasks.crm.emails import address_hmac
from aicmo.tasks.crm.suppression import hmac_key


def test_a_fresh_home_gets_a_random_private_key_that_stays(
    aicmo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AICMO_HMAC_KEY", raising=False)
    reset_settings()
    assert get_settings().hmac_key is None
    first = hmac_key()
    path = aicmo_home / "hmac.key"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and first != "aicmo-dev-erasure-key-change-me"
    reset_settings()
    assert hmac_key() == first  # the same key on the next run


def test_two_installations_get_different_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = []
    for name in ("one", "two"):
        monkeypatch.setenv("AICMO_HOME", str(tmp_path / name))
        monkeypatch.delenv("AICMO_HMAC_KEY", raising=False)
        reset_settings()
        keys.append(hmac_key())
    reset_settings()
    assert keys[0] != keys[1]
    assert address_hmac("a@example.com", keys[0]) != address_hmac("a@example.com", keys[1])


def test_a_configured_key_wins_and_no_file_is_written(
    aicmo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICMO_HMAC_KEY", "team-wide-key")
    reset_settings()
    assert hmac_key() == "team-wide-key"
    assert not (aicmo_home / "hmac.key").exists()
