"""The publishing flow (phase 2): start the due campaigns and work each one's send ledger.

Orchestration only: start (plan) the campaigns that are due, or the one named; for each, take
the campaign's Prefect concurrency slot (``publish-campaign-<id>``, ``AICMO_SENDERS_PER_CAMPAIGN``
slots, created on first use) and run a sender over its ledger; publish the ledger counts and the
rows left unknown as artifacts. The ledger is the guarantee against double sends; the limit keeps
a scheduled run and a manual one from working one campaign at once when one sender is wanted.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectNotFound

from aicmo.errors import ConfigError
from aicmo.flows.monitoring import report_publishing
from aicmo.flows.run_log import logged_run
from aicmo.settings import get_settings
from aicmo.tasks.experiments.prefect_tasks import decide_experiments_task
from aicmo.tasks.publishing.prefect_tasks import send_campaign_task, start_due_campaigns_task


def _ensure_limit(name: str, slots: int) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))


@flow(name="publish-campaigns")
def publish_campaigns(campaign: str | None = None) -> dict[str, Any]:
    """Send every due campaign (or ``campaign``); returns each run's report. Halts raise ConfigError.

    Args:
        campaign: Name of one campaign to send now (default: every campaign that is due).
    """
    settings = get_settings()
    url = settings.resolved_database_url
    with logged_run("publish-campaigns", {"campaign": campaign}) as stats:
        # decided experiments get their winner planned for the rest, which this run then sends
        decide_experiments_task(url, settings.resolved_lake_root, campaign)
        ids = start_due_campaigns_task(url, campaign)
        reports: list[dict[str, Any]] = []
        for campaign_id in ids:
            limit = f"publish-campaign-{campaign_id}"
            _ensure_limit(limit, settings.publishing.senders_per_campaign)
            with concurrency(limit, occupy=1, strict=True):
                reports.append(send_campaign_task(url, campaign_id, settings.resolved_lake_root))
            report_publishing(reports[-1]["campaign"], reports[-1]["ledger"])
        rows = [{"campaign": r["campaign"], **row} for r in reports for row in r["ledger"]]
        create_table_artifact(
            key="publish-ledger",
            table=rows or [{"campaign": "-", "state": "nothing due", "channel": "-", "rows": 0}],
            description="Send ledger rows by state and channel, per campaign.",
        )
        unknown = [
            f"- {r['campaign']}: row {u['row']} ({u['channel']}, contact {u['contact_id']})"
            for r in reports
            for u in r["unknown"]
        ]
        create_markdown_artifact(
            key="publish-unknown",
            markdown="# Messages whose delivery is unknown\n\n" + ("\n".join(unknown) or "none"),
        )
        stats.update(
            {"campaigns": len(ids), "sent": sum(r["sent"] for r in reports), "unknown": len(unknown)}
        )
    halted = [f"{r['campaign']}: {r['halted']}" for r in reports if r["halted"]]
    if halted:
        raise ConfigError("; ".join(halted))
    return {"campaigns": reports}
