"""The enrichment flow (phase 1): enrich contacts that were never enriched or have gone stale.

It only orchestrates: pick the due contact ids, run them through the enrichment task in batches,
follow the progress, and publish two tables (outcomes per capability, the gateway's per-provider
metrics). A rerun skips fresh contacts; a contact a provider failed on stays due for the next run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from aicmo.flows.monitoring import report_enrichment
from aicmo.flows.params import BatchSize, StaleAfterDays
from aicmo.flows.run_log import logged_run
from aicmo.progress import progress_artifact
from aicmo.settings import get_settings
from aicmo.tasks.crm.enrichment import EnrichmentReport
from aicmo.tasks.crm.prefect_tasks import enrich_batch_task, pick_contacts_task
from aicmo.tasks.crm.report import publish_enrichment

FLOW_NAME = "enrich-contacts"


@flow(name=FLOW_NAME)
def enrich_contacts(
    batch_size: BatchSize = 1000, stale_after_days: StaleAfterDays | None = None
) -> dict[str, Any]:
    """Enrich due contacts in batches of ``batch_size``; returns the counts of the run.

    ``stale_after_days`` overrides the TTL (``AICMO_ENRICHMENT_TTL_DAYS``) after which an enriched
    contact is due again. The result holds ``selected``, ``batches``, ``complete``,
    ``left_for_next_run``, ``companies_upserted``, ``outcomes`` (capability -> outcome -> count)
    and ``providers`` (the gateway's metrics rows).

    Args:
        batch_size: Contacts per enrichment batch (1-100000).
        stale_after_days: Re-enrich contacts enriched longer ago than this (default: the settings' TTL).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    url = get_settings().resolved_database_url
    with logged_run(FLOW_NAME, {"batch_size": batch_size, "stale_after_days": stale_after_days}) as stats:
        ids = pick_contacts_task(url, stale_after_days)
        batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
        total = EnrichmentReport()
        with progress_artifact("enrich-progress", "contacts enriched (%)", len(ids)) as advance:
            for batch in batches:
                total.merge(enrich_batch_task(url, batch))
                advance(len(batch))
        result: dict[str, Any] = {
            "selected": len(ids),
            "batches": len(batches),
            "complete": total.complete,
            "left_for_next_run": total.left_for_next_run,
            "companies_upserted": total.companies_upserted,
            "outcomes": {cap: dict(counts) for cap, counts in total.outcomes.items()},
            "providers": total.metrics_rows(),
        }
        publish_enrichment(len(ids), len(batches), total)
        report_enrichment(len(ids), total.complete, result["providers"])
        stats.update({k: v for k, v in result.items() if k != "providers"})
    return result
