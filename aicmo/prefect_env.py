"""Prefect's environment for offline runs: no telemetry, no analytics, a home under AICMO_HOME.

Called before Prefect is imported by the CLI and the tests, so that the demo runs on Prefect's
ephemeral server with nothing sent anywhere and no error lines in the output.
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_LOG_PRINTS": "false",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_TASKS_DEFAULT_PERSIST_RESULT": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def configure_prefect(home: Path) -> None:
    """Set Prefect's offline defaults (explicit env vars win) and keep its home under ``home``."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if "PREFECT_HOME" not in os.environ and "PREFECT_API_URL" not in os.environ:
        os.environ["PREFECT_HOME"] = str(home / "prefect")
    # Prefect creates its home without parents and fails to start its server when it cannot.
    Path(os.environ.get("PREFECT_HOME", home / "prefect")).expanduser().mkdir(parents=True, exist_ok=True)
