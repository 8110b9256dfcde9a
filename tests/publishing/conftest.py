"""Fixtures of the publishing tests: a local SMTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aicmo.fakes.channels import LocalChannels
from aicmo.fakes.smtp_server import LocalSmtpServer


@pytest.fixture
def smtp() -> Iterator[LocalSmtpServer]:
    """A recording SMTP server on 127.0.0.1 (ephemeral port)."""
    with LocalSmtpServer() as server:
        yield server


@pytest.fixture
def local() -> Iterator[LocalChannels]:
    """Every channel's local fake."""
    with LocalChannels() as channels:
        yield channels
