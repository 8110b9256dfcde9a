"""Prefect tasks of the publishing phase: thin wrappers passing URLs, ids and names only."""

from __future__ import annotations

from typing import Any

from prefect import task

from aicmo.models.base import utcnow
from aicmo.settings import get_settings
from aicmo.storage.db import get_engine, transaction
from aicmo.storage.lake import Lake
from aicmo.storage.publishing import due_campaign_ids, get_campaign
from aicmo.tasks.publishing.campaigns import start
from aicmo.tasks.publishing.channels.registry import channel_factory
from aicmo.tasks.publishing.links import tracking_links
from aicmo.tasks.publishing.sender import send_campaign


@task(name="start-due-campaigns", persist_result=False)
def start_due_campaigns_task(database_url: str, name: str | None = None) -> list[int]:
    """Plan and start the due campaigns (or the one named); ids of those now sending."""
    engine = get_engine(database_url)
    with transaction(engine) as session:
        ids = [get_campaign(session, name).id] if name else due_campaign_ids(session, utcnow())
    return [cid for cid in ids if start(engine, cid)]


@task(name="send-campaign", persist_result=False, retries=2, retry_delay_seconds=10)
def send_campaign_task(database_url: str, campaign_id: int, lake_root: str) -> dict[str, Any]:
    """One sender run over a campaign's ledger; returns its report as plain data.

    Retrying after a crash is safe: the rerun reaps the dead claims and sends only what the ledger
    says was never handed over.
    """
    settings = get_settings()
    report = send_campaign(
        get_engine(database_url),
        campaign_id,
        settings=settings.publishing,
        channel_factory=channel_factory(settings.publishing, tracking_base_url=settings.tracking.base_url),
        links=tracking_links(settings.tracking),
        lake=Lake(lake_root),
    )
    return {
        "campaign_id": report.campaign_id,
        "campaign": report.campaign,
        "status": report.status,
        "sent": report.sent,
        "outcomes": report.outcomes,
        "skipped": report.skipped,
        "reaped": report.reaped,
        "ledger": [{"state": s, "channel": c, "rows": n} for (s, c), n in sorted(report.ledger.items())],
        "unknown": [{"row": r, "contact_id": c, "channel": ch, "error": e} for r, c, ch, e in report.unknown],
        "halted": report.halted,
        "events_written": report.events_written,
    }
