"""The sample-data flow: write a deterministic dataset into the store and the lake, then report it."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from aicmo.flows.run_log import logged_run
from aicmo.tasks.sample.prefect_tasks import generate_sample_task
from aicmo.tasks.sample.report import publish_sample_data

FLOW_NAME = "generate-sample-data"


@flow(name=FLOW_NAME, log_prints=False)
def generate_sample_data(
    contacts: int = 5000, days: int = 90, seed: int = 7, end: date | None = None
) -> dict[str, Any]:
    """Generate ``contacts`` contacts and ``days`` days of activity (seeded), ending ``end`` (default yesterday)."""
    with logged_run(FLOW_NAME, {"contacts": contacts, "days": days, "seed": seed, "end": end}) as stats:
        summary = generate_sample_task(contacts, days, seed, end)
        publish_sample_data(summary)
        stats.update({k: summary[k] for k in ("contacts", "events", "orders", "start", "end")})
    return summary
