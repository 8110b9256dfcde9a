"""The sample-data flow: write a deterministic dataset into the store and the lake, then report it."""

from __future__ import annotations

from typing import Any

from prefect import flow

from aicmo.flows.params import Day, SampleContacts, SampleDays, Seed
from aicmo.flows.run_log import logged_run
from aicmo.tasks.sample.prefect_tasks import generate_sample_task
from aicmo.tasks.sample.report import publish_sample_data

FLOW_NAME = "generate-sample-data"


@flow(name=FLOW_NAME, log_prints=False)
def generate_sample_data(
    contacts: SampleContacts = 5000, days: SampleDays = 90, seed: Seed = 7, end: Day | None = None
) -> dict[str, Any]:
    """Generate ``contacts`` contacts and ``days`` days of activity (seeded), ending ``end`` (default yesterday).

    Args:
        contacts: Contacts to generate.
        days: Days of events, orders and ad spend.
        seed: Random seed: the same seed and options give the same data.
        end: Last day of the data (default: yesterday, UTC).
    """
    with logged_run(FLOW_NAME, {"contacts": contacts, "days": days, "seed": seed, "end": end}) as stats:
        summary = generate_sample_task(contacts, days, seed, end)
        publish_sample_data(summary)
        stats.update({k: summary[k] for k in ("contacts", "events", "orders", "start", "end")})
    return summary
