"""``aicmo pipeline``: run the daily chain, a backfill or the enrichment flow from the shell.

The same flows the Prefect deployments run; here they run on Prefect's ephemeral server (or the
server ``PREFECT_API_URL`` names) with a progress display, and print what they did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from aicmo.cli.commands.options import parse_day
from aicmo.cli.console import progress_bar
from aicmo.errors import InputError

app = typer.Typer(help="Run the daily chain, a backfill or the enrichment flow.", no_args_is_help=True)


def _run(description: str, flow_call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run a flow under a progress display and print its summary."""
    from aicmo.cli.demo import print_summary

    with progress_bar(description, total=1) as advance:
        summary = flow_call()
        advance()
    print_summary(description, summary)
    return summary


@app.command("daily")
def daily_cmd(
    run_date: str | None = typer.Option(
        None, "--date", help="Day to run for (YYYY-MM-DD); default yesterday UTC."
    ),
    sync_revenue: bool = typer.Option(True, "--revenue/--no-revenue", help="Sync Stripe revenue first."),
) -> None:
    """Enrich stale contacts, sync revenue, aggregate the touched days and rescore: the daily chain."""
    day = parse_day(run_date, "--date")  # a bad date is refused before Prefect loads

    from aicmo.flows.daily import daily_pipeline

    _run("daily pipeline", lambda: daily_pipeline(run_date=day, sync_revenue=sync_revenue))


@app.command("backfill")
def backfill_cmd(
    start: str = typer.Argument(..., help="First day (YYYY-MM-DD)."),
    end: str = typer.Argument(..., help="Last day (YYYY-MM-DD), inclusive."),
    chunk_days: int = typer.Option(7, "--chunk-days", min=1, help="Days recomputed per chunk."),
    rescore: bool = typer.Option(True, "--rescore/--no-rescore", help="Rescore contacts at the end."),
) -> None:
    """Recompute KPIs, attribution and trends for every day in START..END, then rescore."""
    first, last = parse_day(start, "START"), parse_day(end, "END")
    assert first is not None and last is not None
    if last < first:
        raise InputError(f"END {last} is before START {first}")

    from aicmo.flows.backfill import backfill  # after the checks: bad dates are refused before Prefect loads

    _run(
        f"backfill {first}..{last}",
        lambda: backfill(start=first, end=last, chunk_days=chunk_days, rescore=rescore),
    )


@app.command("enrich")
def enrich_cmd(
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Contacts per enrichment batch."),
    stale_after_days: int | None = typer.Option(
        None, "--stale-after-days", min=1, help="Re-enrich after this many days (default: settings)."
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
