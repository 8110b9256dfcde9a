"""Prefect's environment for offline runs: no telemetry, no analytics, a home under AICMO_HOME.

Called before Prefect is imported by the CLI and the tests, so that the demo runs on Prefect's
ephemeral server with nothing sent anywhere and no error lines in the output. The ephemeral server
is a child process; a small watchdog ends it when its parent dies, even by ``kill -9``, so no
server is left listening after a killed run.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

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
    tie_ephemeral_server_to_parent()


_SERVER_MODULE = "prefect.server.api.server"

# Runs in a bare interpreter (-S): no site packages, starts in milliseconds. It watches the process
# that started it (its parent) and the server; when the parent is gone it stops the server.
_WATCHDOG = """
import os, signal, sys, time
parent, child = int(sys.argv[1]), int(sys.argv[2])
def is_server(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"uvicorn" in f.read()
    except OSError:
        return False
while is_server(child):
    if os.getppid() != parent:
        os.kill(child, signal.SIGTERM)
        for _ in range(50):
            if not is_server(child):
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
        break
    time.sleep(0.5)
"""


def _start_watchdog(server_pid: int) -> None:
    subprocess.Popen(
        [sys.executable, "-S", "-c", _WATCHDOG, str(os.getpid()), str(server_pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )


def _guard(module: ModuleType) -> None:
    server_cls = module.SubprocessASGIServer
    original = server_cls._run_uvicorn_command
    if getattr(original, "_ends_with_parent", False):
        return

    def run_uvicorn_command(self: Any) -> subprocess.Popen[Any]:
        process = original(self)
        _start_watchdog(process.pid)
        return process

    run_uvicorn_command._ends_with_parent = True  # type: ignore[attr-defined]
    server_cls._run_uvicorn_command = run_uvicorn_command


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Patches Prefect's server module when (and only when) something imports it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _SERVER_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        load = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            _guard(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def tie_ephemeral_server_to_parent() -> None:
    """Make every ephemeral Prefect server this process starts end when this process ends."""
    if _SERVER_MODULE in sys.modules:
        _guard(sys.modules[_SERVER_MODULE])
    elif not any(isinstance(f, _GuardOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _GuardOnImport())


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs started inside send no heartbeats (Prefect's thread for them sleeps in one-second
    steps, and every flow run waits up to a second at its end for it to notice the stop)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@contextmanager
def local_runs() -> Iterator[None]:
    """Flow runs started inside on Prefect's ephemeral server run without heartbeats.

    A heartbeat lets a server notice that the process of a run died. The ephemeral server is this
    process's child and ends with it, so nothing could ever read them (the run log marks such a run
    crashed at the next start instead), and each costs up to a second at the end of the run. With
    ``PREFECT_API_URL`` set (a real server, a worker's runs) they stay.
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        yield
        return
    with without_heartbeats():
        yield
