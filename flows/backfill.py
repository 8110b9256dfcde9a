"""Backfill: recompute past days, one flow run per day partition, resumable, never publishing.

The ``backfill`` flow plans the days (``flows/backfill_plan.py``: what its bookkeeping and the lake
hold, what ``reprocess`` asks to redo), then runs ``backfill-day`` once per day to do, at most
``max_parallel`` at a time: when the backfill itself runs from its deployment (on a worker) and
the server has the ``backfill-day`` deployment, through ``run_deployment`` with one idempotency
key per day and attempt (the days then run on the work pool's workers); otherwise (the CLI, a
plain call) in this process as subflows, so a backfill started by hand never waits on a work pool
that no worker serves. Each day flow records its steps in
``backfill_days`` before and after the work, so a backfill killed at any point leaves rows that
the next one finds ``crashed`` (their process is gone) and redoes, and nothing else. ``score``
runs once at the end, as of the last day. Steps only recompute the lake's day partitions: no
message is ever sent.
"""

from __future__ import annotations

import contextvars
import os
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, cast
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import deployment
from prefect.settings import get_current_settings
from prefect.states import State

from aicmo import wiring
from aicmo.errors import AicmoError
from aicmo.flows.ads import ads
from aicmo.flows.aggregate import aggregate
from aicmo.flows.backfill_plan import DayPlan, days_between, plan_days
from aicmo.flows.params import (
    BACKFILL_STEPS,
    MAX_BACKFILL_DAYS,
    BackfillStep,
    Day,
    MaxParallel,
    Reprocess,
    check_range,
)
from aicmo.flows.run_log import logged_run
from aicmo.flows.score import score
from aicmo.flows.steps import in_parent_process
from aicmo.processes import pid_alive
from aicmo.progress import progress_artifact
from aicmo.storage.backfill import crash_dead_steps, day_rows, finish_step, mark_crashed, start_steps
from aicmo.storage.db import transaction

FLOW_NAME = "backfill"
DAY_FLOW_NAME = "backfill-day"
DAY_DEPLOYMENT = f"{DAY_FLOW_NAME}/{DAY_FLOW_NAME}"
DAY_STEPS = ("aggregate", "ads")
SCORE = "score"


class BackfillFailed(AicmoError):
    """Some days failed; the message names them."""


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _current_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


def _day_step(step: str, day: date) -> dict[str, Any]:
    """One step of one day; the phase flows' bodies run inside this day's flow run."""
    if step == "aggregate":
        return aggregate.fn(start=day, end=day, full=True)
    result = ads.fn(start=day, end=day, today=day)
    if isinstance(result, State):  # the ads flow had no ad data to work on
        return {"skipped": result.message}
    return result


@flow(name=DAY_FLOW_NAME)
def backfill_day(day: Day, steps: list[BackfillStep] | None = None) -> dict[str, Any]:
    """Recompute one day partition: the given steps (default aggregate and ads), recorded step by step.

    Args:
        day: The day partition to recompute.
        steps: Day steps to run: aggregate (KPIs, attribution, trends), ads (cost and ROI).
    """
    chosen = [s for s in DAY_STEPS if steps is None or s in steps]
    engine = wiring.engine()
    with transaction(engine) as session:
        start_steps(session, day, chosen, _owner(), _current_run_id())
    done: dict[str, Any] = {}
    for step in chosen:
        try:
            with in_parent_process():
                done[step] = _day_step(step, day)
        except Exception as exc:
            with transaction(engine) as session:
                finish_step(session, day, step, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
                for later in chosen[chosen.index(step) + 1 :]:
                    finish_step(session, day, later, "failed", error=f"not run: {step} failed")
            raise
        with transaction(engine) as session:
            finish_step(session, day, step, "completed", _small(done[step]))
    return done


def _small(result: dict[str, Any]) -> dict[str, Any]:
    """The scalar figures of a step's result (what the bookkeeping keeps)."""
    return {k: v for k, v in result.items() if isinstance(v, int | float | str | bool) or v is None}


def _deployment_available() -> bool:
    """Whether this backfill runs from a deployment on a server that has the day flow's deployment."""
    if not get_current_settings().api.url or deployment.get_id() is None:
        return False
    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(DAY_DEPLOYMENT)
    except ObjectNotFound:
        return False
    return True


def _settle_other_hosts(rows: dict[tuple[date, str], Any]) -> None:
    """Rows ``running`` for a run on another host whose Prefect run has ended are crashed."""
    host = socket.gethostname()
    candidates = {
        key: row.flow_run_id
        for key, row in rows.items()
        if row.status == "running" and (row.owner or {}).get("host") != host and row.flow_run_id
    }
    if not candidates:
        return  # nothing to ask the server (a dry run on one machine never starts one)
    ended = []
    with get_client(sync_client=True) as client:
        for key, run_id in candidates.items():
            try:
                state = client.read_flow_run(UUID(run_id)).state
            except ObjectNotFound:
                state = None
            if state is None or state.is_final():
                ended.append(key)
    if ended:
        with transaction(wiring.engine()) as session:
            mark_crashed(session, ended, "its Prefect run ended without recording the step's end")


def plan(
    start: date, end: date, steps: Sequence[str], reprocess: Reprocess, reverse: bool
) -> tuple[list[DayPlan], bool]:
    """The day plans of a backfill (stale ``running`` rows settled first) and whether score is due."""
    engine, lake = wiring.engine(), wiring.lake()
    days = days_between(start, end, reverse=reverse)
    day_steps = [s for s in steps if s in DAY_STEPS]
    with transaction(engine) as session:
        crash_dead_steps(session, socket.gethostname(), pid_alive)
        rows = day_rows(session, days, [*day_steps, SCORE])
    _settle_other_hosts(rows)
    with transaction(engine) as session:
        rows = day_rows(session, days, [*day_steps, SCORE])
        plans = plan_days(days, day_steps, rows, reprocess, lake) if day_steps else []
    last_score = rows.get((end, SCORE))
    score_due = SCORE in steps and (
        reprocess == "all"
        or any(p.run for p in plans)
        or last_score is None
        or last_score.status != "completed"
    )
    return plans, score_due


@flow(name=FLOW_NAME)
def backfill(
    start: Day,
    end: Day,
    steps: list[BackfillStep] = list(BACKFILL_STEPS),  # noqa: B006 (a schema default, never mutated)
    max_parallel: MaxParallel = 2,
    reprocess: Reprocess = "failed",
    reverse: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Recompute every day of ``[start, end]`` that needs it, one flow run per day, then rescore once.

    Returns ``{"days": [...each day's plan and outcome...], "failed": [...], "score": ...}``;
    fails naming the failed days.

    Args:
        start: First day to recompute.
        end: Last day to recompute, inclusive (not before start).
        steps: What to redo: aggregate (KPIs, attribution, trends per day), ads (cost and ROI per day), score (once, as of end).
        max_parallel: Day runs at once (1-16).
        reprocess: Which days already in the bookkeeping to redo: none (only missing or crashed ones), failed (those and failed ones), all.
        reverse: Newest day first.
        dry_run: List the days and steps it would run and what exists, and change nothing.
    """
    check_range(start, end, max_days=MAX_BACKFILL_DAYS)
    logger = get_run_logger()
    chosen = [s for s in BACKFILL_STEPS if s in steps]
    if not chosen:
        raise BackfillFailed("steps: choose at least one of " + ", ".join(BACKFILL_STEPS))
    plans, score_due = plan(start, end, chosen, reprocess, reverse)
    todo = [p for p in plans if p.run]
    day_steps = [s for s in chosen if s in DAY_STEPS]
    create_table_artifact(
        [p.row() for p in plans] or [{"day": "-", "action": "none", "why": "no day step chosen"}],
        key="backfill-plan",
        description=f"backfill {start}..{end}: {len(todo)} of {len(plans)} days to run, steps {', '.join(chosen)}"
        + (" (dry run)" if dry_run else ""),
    )
    result: dict[str, Any] = {
        "start": str(start),
        "end": str(end),
        "steps": chosen,
        "dry_run": dry_run,
        "days": [p.row() for p in plans],
        "to_run": len(todo),
        "score": "due" if score_due else "not due",
        "failed": [],
    }
    if dry_run:
        return result
    params = {
        "start": start,
        "end": end,
        "steps": chosen,
        "reprocess": reprocess,
        "max_parallel": max_parallel,
    }
    with logged_run(FLOW_NAME, params) as stats:
        remote = _deployment_available()
        logger.info(
            "%d days to run (%s), %d at a time",
            len(todo),
            "on the work pool" if remote else "in process",
            max_parallel,
        )
        lock = threading.Lock()
        outcomes: dict[date, str] = {}

        def run_one(p: DayPlan) -> None:
            if remote:
                run = run_deployment(
                    DAY_DEPLOYMENT,
                    parameters={"day": p.day.isoformat(), "steps": day_steps},
                    idempotency_key=f"{DAY_FLOW_NAME}/{p.day}/{'+'.join(day_steps)}/attempt-{p.attempts + 1}",
                    as_subflow=True,
                    timeout=None,
                )
                state = cast(FlowRun, run).state
            else:
                with in_parent_process():
                    state = backfill_day(day=p.day, steps=day_steps, return_state=True)
            ok = state is not None and state.is_completed()
            why = "" if ok else (state.message if state is not None else "no state") or "failed"
            with lock:
                outcomes[p.day] = "completed" if ok else f"failed: {why}"
                advance()

        with (
            progress_artifact("backfill-progress", f"backfill {start}..{end}", len(todo)) as advance,
            ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="backfill") as pool,
        ):
            futures = [pool.submit(contextvars.copy_context().run, run_one, p) for p in todo]
            for future in futures:
                future.result()
        failed = [
            f"{d} ({outcomes[d].removeprefix('failed: ')})"
            for d in sorted(outcomes)
            if outcomes[d] != "completed"
        ]
        for row in result["days"]:
            row["outcome"] = outcomes.get(date.fromisoformat(row["day"]), "skipped")
        result["failed"] = failed
        create_table_artifact(
            result["days"] or [{"day": "-", "outcome": "no day step chosen"}],
            key="backfill-outcome",
            description=f"backfill {start}..{end}: each day's outcome ({len(failed)} failed)",
        )
        if score_due and not failed:
            result["score"] = _rescore(end)
        stats.update({k: result[k] for k in ("to_run", "failed", "score")})
        stats["days"] = [{"day": r["day"], "outcome": r["outcome"]} for r in result["days"]]
        if failed:
            raise BackfillFailed(f"{len(failed)} of {len(todo)} days failed: " + "; ".join(failed))
    return result


def _rescore(end: date) -> dict[str, Any]:
    """Score once as of ``end``, recorded like a day step."""
    engine = wiring.engine()
    with transaction(engine) as session:
        start_steps(session, end, [SCORE], _owner(), _current_run_id())
    try:
        with in_parent_process():
            scored = score(as_of=end)
    except Exception as exc:
        with transaction(engine) as session:
            finish_step(session, end, SCORE, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    with transaction(engine) as session:
        finish_step(session, end, SCORE, "completed", _small(scored))
    return {k: scored.get(k) for k in ("as_of", "contacts_scored", "customers")}
