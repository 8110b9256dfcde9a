"""Fixtures of the gateway and adapter tests: a fake provider server per test and fast gateway settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.settings import GatewaySettings, Settings, reset_settings

FAST = {
    # above a loaded machine's slowest loopback answer, below the 1 s of the fake server's slow() faults
    "timeout_s": 0.8,
    "max_attempts": 3,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.05,
    "retry_after_cap_s": 2.0,
    "breaker_failure_threshold": 3,
    "breaker_reset_s": 0.3,
    "concurrency": 50,
}


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    """A fresh fake provider server (a new port, so fresh breakers and limits)."""
    with FakeProviderServer() as srv:
        yield srv


def settings_for(server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, **gateway: object) -> Settings:
    """Settings pointing every adapter at ``server``, with fast timeouts and backoffs."""
    for key, value in server.settings_env().items():
        monkeypatch.setenv(key, value)
    reset_settings()
    return Settings(gateway=GatewaySettings(**{**FAST, **gateway}))


@pytest.fixture
def settings(server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Fast settings against the per-test server."""
    return settings_for(server, monkeypatch)
