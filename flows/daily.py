"""The daily chain: enrich -> revenue sync -> aggregate -> score, for one run date.

Scheduled by the ``daily`` deployment (prefect.yaml); each step is its own flow so it can also be
run alone from the Prefect UI.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from prefect import flow

from aicmo import clock
from aicmo.flows.aggregate import aggregate
from aicmo.flows.enrich import enrich_contacts
from aicmo.flows.revenue_sync import sync_stripe_revenue
from aicmo.flows.run_log import logged_run
from aicmo.flows.score import score


def default_run_date() -> date:
    """Yesterday in UTC: the last complete day."""
    return clock.today() - timedelta(days=1)


FLOW_NAME = "daily-pipeline"


@flow(name=FLOW_NAME, log_prints=False)
def daily_pipeline(
    run_date: date | None = None, sync_revenue: bool = True, full: bool = False
) -> dict[str, Any]:
    """Run the whole pipeline for ``run_date`` (default: yesterday, UTC).

    The aggregation covers the run date and the day before; with ``full`` (a first run over
    fresh data, the demo) it recomputes every day in the lake instead.
    """
    day = run_date or default_run_date()
    with logged_run(FLOW_NAME, {"run_date": day, "full": full}) as stats:
        stats["enrich"] = enrich_contacts()
        if sync_revenue:
            stats["revenue"] = sync_stripe_revenue()
        if full:
            stats["aggregate"] = aggregate(full=True)
        else:
            stats["aggregate"] = aggregate(start=day - timedelta(days=1), end=day)
        stats["score"] = score(as_of=day)
    return stats
