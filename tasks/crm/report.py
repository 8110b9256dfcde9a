"""Reports of the CRM flows: the enrichment run's Prefect artifacts."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo.tasks.crm.enrichment import EnrichmentReport


def enrichment_markdown(selected: int, total: EnrichmentReport) -> str:
    """The enrichment run's summary in markdown."""
    return (
        f"# Enrichment\n\n- selected: {selected}\n- complete: {total.complete}\n"
        f"- left for the next run (a provider failed): {total.left_for_next_run}\n"
        f"- companies upserted: {total.companies_upserted}\n"
    )


def publish_enrichment(selected: int, batches: int, total: EnrichmentReport) -> None:
    """Outcomes per capability, the gateway's per-provider metrics, and the summary."""
    create_table_artifact(
        key="enrich-outcomes",
        table=total.outcome_rows() or [{"capability": "-", "outcome": "nothing due", "contacts": 0}],
        description=f"Enrichment outcomes of {selected} contact(s) in {batches} batch(es).",
    )
    create_table_artifact(
        key="enrich-gateway-metrics",
        table=total.metrics_rows() or [{"provider": "-", "calls": 0}],
        description="Gateway metrics per provider (calls, failures by kind, retries, latency).",
    )
    create_markdown_artifact(key="enrich-summary", markdown=enrichment_markdown(selected, total))
