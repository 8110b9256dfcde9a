"""The tracking flow (phase 2): what the spool and the export inbox hold, into the events lake.

Orchestration only: the flush task drains a spool no running service owns, the import task reads
provider export files from ``<home>/inbox/events/<format>/``. With no spool and no inbox on this
host (the tracking service runs elsewhere and flushes its own spool) the run ends ``Skipped``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from aicmo.flows.run_log import logged_run
from aicmo.flows.steps import skipped
from aicmo.settings import get_settings
from aicmo.tasks.tracking.prefect_tasks import flush_spool_task, import_inbox_task

FLOW_NAME = "tracking-flush"


@flow(name=FLOW_NAME)
def tracking_flush() -> dict[str, Any]:
    """Flush the tracking spool a stopped service left behind and import the event inbox."""
    settings = get_settings()
    inbox = settings.home / "inbox" / "events"
    url, root = settings.resolved_database_url, settings.resolved_lake_root
    with logged_run(FLOW_NAME, {}) as stats:
        if not settings.spool_dir.is_dir() and not inbox.is_dir():
            reason = f"no spool ({settings.spool_dir}) and no event inbox ({inbox}) on this host"
            stats["skipped"] = reason
            return skipped(reason)
        cfg = settings.tracking
        spool = flush_spool_task(str(settings.spool_dir), root, url, cfg.scanner_window_s, cfg.segment_bytes)
        imported = import_inbox_task(str(inbox), root, url)
        stats.update({"spool": spool, "inbox": imported})
        if spool["spool"] == "busy" and not imported["files"]:
            return skipped(spool["reason"], {"spool": spool, "inbox": imported})
    return {"spool": spool, "inbox": imported}
