"""``aicmo pipeline``: run the daily chain, a backfill or the enrichment flow from the shell.

The same flows the Prefect deployments run; here they run on Prefect's ephemeral server (or the
server ``PREFECT_API_URL`` names) with a progress display, and print what they did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any, cast

import typer

from aicmo.cli.commands.options import day_argument, day_option
from aicmo.cli.console import progress_bar
from aicmo.errors import InputError

if TYPE_CHECKING:
    from aicmo.flows.params import BackfillStep, Reprocess

app = typer.Typer(help="Run the daily chain, a backfill or the enrichment flow.", no_args_is_help=True)


def _run(description: str, flow_call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a flow under a progress display and print its summary."""
    from aicmo.cli.demo import print_summary
    from aicmo.prefect_env import local_runs

    with progress_bar(description, total=1) as advance, local_runs():
        summary = flow_call()
        advance()
    print_summary(description, summary)
    return summary


@app.command("daily")
def daily_cmd(
    run_date: date | None = day_option("--date", "Day to run for; default yesterday UTC."),
    sync_revenue: bool = typer.Option(True, "--revenue/--no-revenue", help="Sync Stripe revenue first."),
) -> None:
    """Enrich stale contacts, sync revenue, aggregate the touched days and rescore: the daily chain."""
    from aicmo.flows.daily import daily_pipeline

    _run("daily pipeline", lambda: daily_pipeline(run_date=run_date, sync_revenue=sync_revenue))


BACKFILL_STEP_NAMES = ("aggregate", "ads", "score")


def _steps(value: str) -> list[str]:
    """``--steps a,b`` as a list, each one a known backfill step."""
    steps = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in steps if s not in BACKFILL_STEP_NAMES]
    if unknown or not steps:
        raise InputError(f"--steps: expected some of {','.join(BACKFILL_STEP_NAMES)}, got {value!r}")
    return steps


# The checks below run while the command line is parsed, before the command reads its settings.


def _check_steps(value: str) -> str:
    _steps(value)
    return value


def _check_reprocess(value: str) -> str:
    if value not in ("none", "failed", "all"):
        raise InputError(f"--reprocess: expected none, failed or all, got {value!r}")
    return value


def _check_end(ctx: typer.Context, value: date) -> date:
    start = ctx.params.get("start")
    if isinstance(start, date) and value < start:
        raise InputError(f"END {value} is before START {start}")
    return value


def _watch_days(days: list[date], steps: list[str], advance: Callable[[int], None]) -> Callable[[], None]:
    """Advance the bar as the bookkeeping records finished days (the runs may be on other workers)."""
    import threading
    from datetime import UTC, datetime

    from aicmo.storage.backfill import finished_since
    from aicmo.storage.db import transaction
    from aicmo.wiring import engine

    since, stop, shown = datetime.now(UTC), threading.Event(), [0]

    def poll() -> None:
        while not stop.wait(0.5):
            with transaction(engine()) as session:
                done = finished_since(session, days, steps, since)
            if done > shown[0]:
                advance(done - shown[0])
                shown[0] = done

    thread = threading.Thread(target=poll, name="backfill-bar", daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join()

    return finish


@app.command("backfill")
def backfill_cmd(
    start: date = day_argument("START", "First day (YYYY-MM-DD)."),
    end: date = day_argument("END", "Last day (YYYY-MM-DD), inclusive.", callback=_check_end),
    steps: str = typer.Option(
        ",".join(BACKFILL_STEP_NAMES),
        "--steps",
        help="Comma-separated: aggregate, ads, score (once, as of END).",
        callback=_check_steps,
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the days and steps it would run; change nothing."
    ),
    max_parallel: int = typer.Option(2, "--max-parallel", min=1, max=16, help="Day runs at once."),
    reprocess: str = typer.Option(
        "failed",
        "--reprocess",
        help="Days already done to redo: none (only missing/crashed), failed, all.",
        callback=_check_reprocess,
    ),
    reverse: bool = typer.Option(False, "--reverse", help="Newest day first."),
) -> None:
    """Recompute START..END one day partition per flow run (resumable; never publishes), then rescore."""
    chosen = _steps(steps)

    # after the checks: bad arguments are refused before Prefect loads
    from aicmo.cli.console import console
    from aicmo.cli.demo import print_summary
    from aicmo.cli.tables import rows_table
    from aicmo.flows.backfill import DAY_STEPS, backfill, plan
    from aicmo.flows.backfill_plan import days_between

    mode = cast("Reprocess", reprocess)
    if dry_run:
        plans, score_due = plan(start, end, chosen, mode, reverse)
        console.print(rows_table([p.row() for p in plans], title=f"backfill {start}..{end} (dry run)"))
        todo = sum(p.run for p in plans)
        console.print(
            f"would run {todo} of {len(plans)} days with steps "
            f"{', '.join(s for s in chosen if s in DAY_STEPS) or 'none'}"
            + (f"; then score as of {end}" if score_due else "")
        )
        return
    day_steps = [s for s in chosen if s in DAY_STEPS]
    days = days_between(start, end)
    from aicmo.prefect_env import local_runs

    with progress_bar(f"backfill {start}..{end}", total=len(days)) as advance, local_runs():
        stop = _watch_days(days, day_steps, advance) if day_steps else (lambda: None)
        try:
            summary = backfill(
                start=start,
                end=end,
                steps=cast("list[BackfillStep]", chosen),
                max_parallel=max_parallel,
                reprocess=mode,
                reverse=reverse,
            )
        finally:
            stop()
    print_summary(f"backfill {start}..{end}", summary)


@app.command("enrich")
def enrich_cmd(
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Contacts per enrichment batch."),
    stale_after_days: int | None = typer.Option(
        None,
        "--stale-after-days",
        min=0,
        help="Re-enrich after this many days (0: all now; default: settings).",
    ),
) -> None:
    """Enrich never-enriched and stale contacts through the provider chains."""
    from aicmo.flows.enrich import enrich_contacts

    _run("enrich contacts", lambda: enrich_contacts(batch_size=batch_size, stale_after_days=stale_after_days))


@app.command("alerts")
def alerts_cmd() -> None:
    """Create (or replace) the alert automations on the Prefect server (run by `make deploy`)."""
    from aicmo.cli.console import console
    from aicmo.flows.alerts import sync_automations

    for name in sync_automations():
        console.print(f"automation: {name}", highlight=False, markup=False)
