"""Fixtures of the experiment tests: the publishing tests' local SMTP server."""

from tests.publishing.conftest import smtp

__all__ = ["smtp"]
