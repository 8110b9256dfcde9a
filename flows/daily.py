"""The daily chain for one run date: enrich -> publish -> tracking -> revenue -> aggregate -> score
-> media suggestions -> ads pacing, each step its own subflow.

Scheduled by the ``daily`` deployment (prefect.yaml); each step is also a flow that runs alone from
the Prefect UI. The parent runs every step even when one fails (each works on what the store and
the lake hold), reports how each ended (a step without its configuration ends ``Skipped``, with
the reason), publishes one summary artifact, and fails at the end naming the failed steps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Literal

from prefect import flow, get_run_logger

from aicmo import clock
from aicmo.errors import AicmoError
from aicmo.flows.ads import ads
from aicmo.flows.aggregate import aggregate
from aicmo.flows.enrich import enrich_contacts
from aicmo.flows.media import media_suggest
from aicmo.flows.params import Day
from aicmo.flows.publish import publish_campaigns
from aicmo.flows.revenue_sync import sync_stripe_revenue
from aicmo.flows.run_log import logged_run
from aicmo.flows.score import score
from aicmo.flows.steps import StepOutcome, ended_failed, publish_summary, run_step
from aicmo.flows.tracking import tracking_flush

DailyStep = Literal["enrich", "publish", "tracking", "revenue", "aggregate", "score", "media", "ads"]
DAILY_STEPS: tuple[DailyStep, ...] = (
    "enrich",
    "publish",
    "tracking",
    "revenue",
    "aggregate",
    "score",
    "media",
    "ads",
)
SUMMARY_KEY = "daily-pipeline-summary"


class StepsFailed(AicmoError):
    """One or more steps of the chain failed; the message names them and why."""


def default_run_date() -> date:
    """Yesterday in UTC: the last complete day."""
    return clock.today() - timedelta(days=1)


def _count(result: dict[str, Any], *keys: str) -> Any:
    value: Any = result
    for key in keys:
        value = value.get(key, 0) if isinstance(value, dict) else 0
    return value


# What each step did, in a few words, from its flow's result.
DESCRIBE: dict[DailyStep, Callable[[dict[str, Any]], str]] = {
    "enrich": lambda r: (
        f"{r.get('selected', 0)} contacts due, {r.get('complete', 0)} fully enriched, "
        f"{r.get('left_for_next_run', 0)} left for the next run"
    ),
    "publish": lambda r: (
        f"{len(r.get('campaigns', []))} due campaigns, "
        f"{sum(c.get('sent', 0) for c in r.get('campaigns', []))} messages sent"
    ),
    "tracking": lambda r: (
        f"spool {_count(r, 'spool', 'spool') or 'empty'}: {_count(r, 'spool', 'written')} events; "
        f"inbox: {_count(r, 'inbox', 'files')} files, {_count(r, 'inbox', 'written')} events"
    ),
    "revenue": lambda r: (
        f"{r.get('orders_written', 0)} orders from {r.get('payments_succeeded', 0)} payments"
    ),
    "aggregate": lambda r: f"{r.get('days_recomputed', 0)} days recomputed, {r.get('kpi_rows', 0)} KPI rows",
    "score": lambda r: f"{r.get('contacts_scored', 0)} contacts scored as of {r.get('as_of')}",
    "media": lambda r: f"{sum((r.get('suggestions') or {}).values())} suggestions",
    "ads": lambda r: (
        f"{r.get('roi_days_written', 0)} ROI days; pacing {r.get('pacing', {})}; "
        f"{_count(r, 'allocation', 'ad_sets')} ad-set budgets planned: "
        + (
            f"{_count(r, 'allocation', 'applied')} set on the platforms"
            if (r.get("allocation") or {}).get("mode") == "apply"
            else f"{_count(r, 'allocation', 'dry_run')} changes logged as a dry run"
        )
        + f", {_count(r, 'allocation', 'left_out')} left out"
    ),
}


@flow(name="daily-pipeline", log_prints=False)
def daily_pipeline(
    run_date: Day | None = None,
    sync_revenue: bool = True,
    full: bool = False,
    steps: list[DailyStep] | None = None,
) -> dict[str, Any]:
    """Run the whole pipeline for ``run_date``; returns each step's result and ``steps`` (outcomes).

    The aggregation covers the run date and the day before; with ``full`` (a first run over
    fresh data, the demo) it recomputes every day in the lake instead.

    Args:
        run_date: Day to run for (default: yesterday, UTC).
        sync_revenue: Sync Stripe revenue (skipped anyway without a Stripe key).
        full: Recompute every day in the lake instead of the run date and the day before.
        steps: Steps to run, in chain order (default: all of them).
    """
    day = run_date or default_run_date()
    chosen = [s for s in DAILY_STEPS if steps is None or s in steps]
    if not sync_revenue and "revenue" in chosen:
        chosen.remove("revenue")
    calls: dict[DailyStep, Callable[[], Any]] = {
        "enrich": lambda: enrich_contacts(return_state=True),
        "publish": lambda: publish_campaigns(return_state=True),
        "tracking": lambda: tracking_flush(return_state=True),
        "revenue": lambda: sync_stripe_revenue(return_state=True),
        "aggregate": lambda: (
            aggregate(full=True, return_state=True)
            if full
            else aggregate(start=day - timedelta(days=1), end=day, return_state=True)
        ),
        "score": lambda: score(as_of=day, return_state=True),
        "media": lambda: media_suggest(return_state=True),
        "ads": lambda: ads(today=day, return_state=True),
    }
    logger = get_run_logger()
    try:
        with logged_run("daily-pipeline", {"run_date": day, "full": full, "steps": chosen}) as stats:
            outcomes: list[StepOutcome] = []
            for step in chosen:
                outcome = run_step(step, calls[step], DESCRIBE[step])
                logger.info("%s: %s %s", step, outcome.state, outcome.why or outcome.did)
                outcomes.append(outcome)
                stats[step] = outcome.result
            publish_summary(SUMMARY_KEY, f"Daily pipeline for {day}", outcomes)
            stats["steps"] = [o.row() for o in outcomes]
            stats["step_runs"] = {o.step: str(o.flow_run_id) for o in outcomes if o.flow_run_id}
            failed = [o for o in outcomes if not o.ok]
            if failed:
                raise StepsFailed("; ".join(f"{o.step} {o.state.lower()}: {o.why}" for o in failed))
    except StepsFailed as exc:
        # Each failed step already logged why; end failed with the one line, without a traceback.
        return ended_failed(exc)
    return stats
