"""User-facing errors: the CLI prints their message on one line and exits non-zero, no traceback."""

from __future__ import annotations


class AicmoError(Exception):
    """An error a user can act on; its message names the file, row and field where there is one."""

    exit_code = 1


class ConfigError(AicmoError):
    """A setting has a bad value."""

    exit_code = 2


class InputError(AicmoError):
    """Input (a file, a row, a definition) is malformed."""

    exit_code = 1


class ProviderUnavailable(AicmoError):
    """A third-party API could not answer (bad credentials, outage after retries, malformed pages)."""

    exit_code = 1
