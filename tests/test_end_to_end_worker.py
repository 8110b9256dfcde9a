"""End to end through the API the Prefect UI uses: a real server, ``prefect deploy``, a worker.

The test starts ``prefect server start`` on a free local port with its own Prefect home, creates the
``aicmo-process`` work pool and deploys ``prefect.yaml`` as ``make deploy`` does, generates a small
dataset with ``aicmo generate`` and starts ``prefect worker start`` on that home. Then, through the
Prefect client (the calls the UI's "Run" form makes), it triggers the ``daily`` deployment and a
``backfill``, checks the server refuses a run with a parameter that does not fit the deployment's
schema, waits for the runs and reads what they left in the store and the lake.

Every process it starts lives in its own process group and is killed, group and descendants, at the
end, failure or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select

from aicmo.models.runs import FlowRunRecord
from aicmo.storage.db import make_engine, transaction
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.kpis import KPIS_TABLE
from tests.fixed_days import WORKER_E2E

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RUN_TIMEOUT_S = 240.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc), including those in other process groups."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class Processes:
    """Subprocesses started in their own process groups; :meth:`kill_all` ends them and their children."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        self.started.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def wait_ok(self, name: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
        code = proc.wait(timeout=timeout)
        assert code == 0, f"{name} exited {code}:\n{self.log(name)}"

    def kill_all(self) -> None:
        pids = {proc.pid for _, proc in self.started}
        for pid in list(pids):
            pids |= _descendants(pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                for kill in (os.killpg, os.kill):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        kill(pid, sig)
            deadline = time.monotonic() + 10
            for _, proc in self.started:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.kill_all()


def _wait_healthy(api_url: str, server: subprocess.Popen[bytes], procs: Processes) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited:\n{procs.log('server')}"
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy in 120 s:\n{procs.log('server')}")


async def _create_pool() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name="aicmo-process", type="process"), overwrite=True)


async def _trigger(deployment: str, parameters: dict[str, Any]) -> UUID:
    """What the UI's "Run" form does: create a flow run of the deployment with these parameters."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        dep = await client.read_deployment_by_name(deployment)
        run = await client.create_flow_run_from_deployment(dep.id, parameters=parameters)
        return run.id


async def _refused(deployment: str, parameters: dict[str, Any]) -> tuple[int, str]:
    """Try to create a run; return the server's status code and message (it must refuse)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    async with get_client() as client:
        dep = await client.read_deployment_by_name(deployment)
        try:
            await client.create_flow_run_from_deployment(dep.id, parameters=parameters)
        except PrefectHTTPStatusError as exc:
            return exc.response.status_code, exc.response.text
        runs = await client.read_flow_runs()
    raise AssertionError(f"server accepted {parameters} for {deployment}; runs: {[r.name for r in runs]}")


async def _wait_final(run_ids: list[UUID], procs: Processes) -> dict[UUID, str]:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + RUN_TIMEOUT_S
    async with get_client() as client:
        while True:
            states = {rid: (await client.read_flow_run(rid)).state for rid in run_ids}
            if all(s is not None and s.is_final() for s in states.values()):
                return {rid: s.type.value for rid, s in states.items() if s is not None}
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"runs not finished in {RUN_TIMEOUT_S} s: {states}\n{procs.log('worker')}"
                )
            await asyncio.sleep(1)


@pytest.mark.slow
def test_daily_and_backfill_run_on_a_worker_from_deployments(tmp_path: Path, processes: Processes) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from aicmo.fakes.provider_server import FakeProviderServer

    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "home"
    home.mkdir()
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "AICMO_")) or k == "AICMO_TEST_PREFECT_HOME"
    }
    quiet = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = processes.start(
        "server",
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        {
            **base_env,
            **quiet,
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
            # no scheduled runs (publishing every 5 minutes...) mixed into the ones the test starts
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
        },
    )
    client_env = {**base_env, **quiet, "PREFECT_API_URL": api_url, "AICMO_HOME": str(home)}
    # the dataset needs no server: generate it while the server starts
    generate = processes.start(
        "generate",
        [
            str(BIN / "aicmo"),
            "generate",
            f"--contacts={WORKER_E2E.contacts}",
            f"--days={WORKER_E2E.days}",
            f"--seed={WORKER_E2E.seed}",
            f"--end={WORKER_E2E.end.isoformat()}",
        ],
        client_env,
    )
    _wait_healthy(api_url, server, processes)

    with temporary_settings({PREFECT_API_URL: api_url}), FakeProviderServer() as fakes:
        asyncio.run(_create_pool())
        deploy = processes.start(
            "deploy",
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all"],
            {**client_env, "AICMO_PROJECT_DIR": str(ROOT)},
        )
        # the worker starts while the deployments register: it only needs the pool
        processes.start(
            "worker",
            [str(BIN / "prefect"), "worker", "start", "--pool", "aicmo-process"],
            {
                **client_env,
                **fakes.settings_env(),
                "AICMO_PROJECT_DIR": str(ROOT),
                "PREFECT_WORKER_QUERY_SECONDS": "1",
            },
        )
        processes.wait_ok("generate", generate, timeout=180)
        processes.wait_ok("deploy", deploy, timeout=300)

        # the form's values are JSON; the server checks them against the deployment's schema
        code, message = asyncio.run(
            _refused("backfill/backfill", {"start": "2026-08-01", "end": "2026-08-03", "max_parallel": 0})
        )
        assert code == 409 and "max_parallel" in message, message
        code, message = asyncio.run(_refused("backfill/backfill", {"start": "notadate", "end": "2026-08-03"}))
        assert code == 409 and "start" in message, message

        end = WORKER_E2E.end
        first, last = end - timedelta(days=5), end - timedelta(days=3)
        # both at once, as a worker serves them: WAL and a busy timeout let two writers share the store
        daily = asyncio.run(
            _trigger("daily-pipeline/daily", {"run_date": end.isoformat(), "sync_revenue": False})
        )
        backfill = asyncio.run(
            _trigger(
                "backfill/backfill", {"start": first.isoformat(), "end": last.isoformat(), "max_parallel": 2}
            )
        )
        finished = asyncio.run(_wait_final([daily, backfill], processes))
        assert finished == {daily: "COMPLETED", backfill: "COMPLETED"}, processes.log("worker")

    # the store: one completed row per triggered run, with what it was asked
    engine = make_engine(f"sqlite:///{home / 'aicmo.db'}")
    with transaction(engine) as session:
        runs = [
            (r.flow_name, r.status, r.parameters, r.stats) for r in session.scalars(select(FlowRunRecord))
        ]
    engine.dispose()
    daily_rows = [r for r in runs if r[0] == "daily-pipeline"]
    assert [(s, p["run_date"]) for _, s, p, _ in daily_rows] == [("completed", end.isoformat())]
    assert daily_rows[0][3]["enrich"]["selected"] == WORKER_E2E.contacts  # nothing was enriched before
    backfill_rows = [r for r in runs if r[0] == "backfill"]
    assert [(s, p["start"], p["end"]) for _, s, p, _ in backfill_rows] == [
        ("completed", first.isoformat(), last.isoformat())
    ]
    # one backfill-day run per day, started through its deployment on the same pool
    assert [(d["day"], d["outcome"]) for d in backfill_rows[0][3]["days"]] == [
        ((first + timedelta(days=i)).isoformat(), "completed") for i in range(3)
    ]
    with sqlite3.connect(home / "aicmo.db") as conn:  # the backfill's own bookkeeping, per day
        kept = conn.execute(
            "SELECT day, status FROM backfill_days WHERE step = 'aggregate' ORDER BY day"
        ).fetchall()
    assert kept == [((first + timedelta(days=i)).isoformat(), "completed") for i in range(3)]
    # the lake: KPI partitions for the daily run's two days and every backfilled day
    kpi_days = set(Lake(str(home / "lake")).partitions(KPIS_TABLE))
    wanted = {end - timedelta(days=1), end} | {first + timedelta(days=i) for i in range(3)}
    assert wanted <= kpi_days
