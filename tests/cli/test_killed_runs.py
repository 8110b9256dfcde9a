"""A run killed with SIGKILL leaves no Prefect server behind, and its run-log row ends as crashed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from aicmo.flows.run_log import logged_run
from aicmo.models.runs import FlowRunRecord
from aicmo.settings import reset_settings
from aicmo.storage.db import dispose_engines, make_engine, transaction

AICMO = [sys.executable, "-c", "from aicmo.cli import main; main()"]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _is_server(pid: int) -> bool:
    try:
        return b"uvicorn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _statuses(home: Path) -> list[str]:
    """The run log's statuses in order ([] while the store is still being created)."""
    if not (home / "aicmo.db").exists():
        return []
    engine = make_engine(f"sqlite:///{home / 'aicmo.db'}")
    try:
        with transaction(engine) as session:
            query = select(FlowRunRecord.status).order_by(FlowRunRecord.id)
            return list(session.scalars(query))
    except OperationalError:
        return []
    finally:
        engine.dispose()


@pytest.mark.slow
def test_kill_9_ends_the_ephemeral_server_and_the_next_run_marks_the_row_crashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    # A Stripe that takes connections and never answers holds the run mid-flow until it is killed
    # (a run with nothing to wait for could finish between two looks and leave nothing to kill).
    silent = socket.create_server(("127.0.0.1", 0), backlog=16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AICMO_"))}
    env |= {
        "AICMO_HOME": str(home),
        "AICMO_STRIPE_API_KEY": "sk_test_silent",
        "AICMO_STRIPE_BASE_URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
        "AICMO_GATEWAY_TIMEOUT_S": "600",
        "AICMO_GATEWAY_ATTEMPT_DEADLINE_S": "600",
        "AICMO_GATEWAY_CALL_DEADLINE_S": "600",
    }
    run = subprocess.Popen(
        [*AICMO, "providers", "sync-revenue"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        servers: list[int] = []

        def server_started() -> bool:
            servers[:] = [p for p in _children(run.pid) if _is_server(p)]
            return (
                bool(servers) and _statuses(home).count("running") == 1
                if (home / "aicmo.db").exists()
                else False
            )

        assert _wait_for(server_started, 240), "the run never started its Prefect server and its run row"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        assert _wait_for(lambda: not any(_is_server(p) for p in servers), 20), "server outlived its parent"
    finally:
        if run.poll() is None:
            run.kill()
        silent.close()
    assert _statuses(home) == ["running"]
    # the next run on this host (every flow records itself through logged_run) notices the dead one
    monkeypatch.setenv("AICMO_HOME", str(home))
    monkeypatch.delenv("AICMO_DATABASE_URL", raising=False)
    reset_settings()
    try:
        with logged_run("next-run", {}):
            pass
    finally:
        dispose_engines()
        reset_settings()
    assert _statuses(home) == ["crashed", "completed"]
