"""Prefect tasks of the CRM phase: thin wrappers over the plain functions, passing ids and paths only.

Kept apart from the plain modules so that the CLI's contact commands do not import Prefect.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task

from aicmo.storage.db import get_engine
from aicmo.tasks.crm.csv_import import ImportReport, import_contacts
from aicmo.tasks.crm.enrichment import EnrichmentReport, due_contact_ids, enrich_batch


@task(name="pick-contacts-to-enrich", persist_result=False)
def pick_contacts_task(database_url: str, stale_after_days: int | None = None) -> list[int]:
    """Ids of contacts never enriched or enriched longer ago than the TTL."""
    return due_contact_ids(get_engine(database_url), stale_after_days=stale_after_days)


@task(name="enrich-contacts-batch", persist_result=False)
def enrich_batch_task(database_url: str, contact_ids: list[int]) -> EnrichmentReport:
    """Enrich one batch of contacts through the gateway chains and store the answers."""
    return enrich_batch(get_engine(database_url), contact_ids)


@task(name="import-contacts-csv", persist_result=False)
def import_contacts_task(database_url: str, path: str, errors_path: str | None = None) -> ImportReport:
    """Import a contacts CSV file (bad rows to the errors CSV)."""
    return import_contacts(
        get_engine(database_url), Path(path), errors_path=Path(errors_path) if errors_path else None
    )
