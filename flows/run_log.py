"""Bookkeeping of pipeline runs in the store (``flow_runs``): what was asked, what was done."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from aicmo.processes import pid_alive
from aicmo.storage.db import transaction
from aicmo.storage.runs import crash_dead_runs, finish_run, start_run
from aicmo.wiring import engine


@contextmanager
def logged_run(flow_name: str, parameters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Record a run's start, then its end with the stats the body put in the yielded dict.

    Rows left ``running`` by processes of this host that were killed are marked ``crashed`` first.
    """
    eng = engine()
    host = socket.gethostname()
    with transaction(eng) as session:
        crash_dead_runs(session, host, pid_alive)
        owner = {"host": host, "pid": os.getpid()}
        run_id = start_run(session, flow_name, {k: str(v) for k, v in parameters.items()}, owner)
    stats: dict[str, Any] = {}
    try:
        yield stats
    except BaseException as exc:
        with transaction(eng) as session:
            finish_run(session, run_id, "failed", {**stats, "error": type(exc).__name__})
        raise
    with transaction(eng) as session:
        finish_run(session, run_id, "completed", stats)


def run_folder(parent: Path, started: datetime) -> Path:
    """A folder of its own for one run's files (charts), so a later run never overwrites them.

    Named by the run's start time and, inside a Prefect run, the first characters of its id.
    """
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    suffix = f"-{str(ctx.flow_run.id)[:8]}" if ctx and ctx.flow_run else f"-{os.getpid()}"
    return parent / f"{started:%Y%m%dT%H%M%S%f}{suffix}"
