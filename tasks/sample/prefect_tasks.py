"""The Prefect task over :func:`generate_dataset`, on the configured store and lake.

It returns the summary as plain JSON-able data (counts, paths, the headline truth), never
contact rows, and does not persist its result.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import get_run_logger, task

from aicmo.tasks.sample.configured_store import generate_into_configured_store
from aicmo.tasks.sample.dataset import ProgressFn
from aicmo.tasks.sample.params import DatasetSummary


def summary_dict(summary: DatasetSummary) -> dict[str, Any]:
    """The summary as plain data, with the headline ground truth (not the per-campaign list)."""
    data = summary.model_dump(mode="json", exclude={"truth"})
    truth = summary.truth
    data["truth"] = {
        "anomaly_day": truth.anomaly_day.isoformat(),
        "bounce_multiplier": truth.bounce_multiplier,
        "anomaly_day_bounces": truth.anomaly_day_bounces,
        "median_daily_bounces": truth.median_daily_bounces,
        "broken_campaign_id": truth.broken_campaign_id,
        "broken_campaign_name": truth.broken_campaign_name,
        "bgnbd": truth.bgnbd.model_dump(),
        "gamma_gamma": truth.gamma_gamma.model_dump(),
        "customers": truth.customers,
        "near_duplicates": [d.model_dump() for d in truth.near_duplicates],
    }
    return data


def _log_finished_stages() -> ProgressFn:
    """A progress callback that logs each stage once, when it is done, to the Prefect run log."""
    seen: set[str] = set()

    def progress(stage: str, done: int, total: int) -> None:
        if done >= total and stage not in seen:
            seen.add(stage)
            get_run_logger().info("sample data: %s done (%d)", stage, total)

    return progress


@task(name="generate-sample-data", persist_result=False)
def generate_sample_task(contacts: int, days: int, seed: int, end: date | None = None) -> dict[str, Any]:
    """Write the sample dataset; returns :func:`summary_dict` of what was written."""
    return summary_dict(
        generate_into_configured_store(contacts, days, seed, end, progress=_log_finished_stages())
    )
