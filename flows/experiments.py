"""The experiments flow: look at the running tests, decide the ones that are ready, publish reports.

Orchestration only: a decided test has the winner planned for the rest of its audience (the
publish flow then sends it through the ledger); each experiment's report becomes a table
artifact and a markdown artifact with the metric-over-time plot.
"""

from __future__ import annotations

import re
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo.flows.run_log import logged_run
from aicmo.settings import get_settings
from aicmo.tasks.experiments.prefect_tasks import decide_experiments_task, experiment_report_task


def _key(name: str) -> str:
    return "experiment-" + (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "campaign")[:40]


@flow(name="experiments")
def experiments(campaign: str | None = None) -> dict[str, Any]:
    """Decide what is ready (or just ``campaign``) and publish each experiment's report.

    Args:
        campaign: Only this campaign's experiment (its name); default every experiment that is running.
    """
    settings = get_settings()
    url, lake = settings.resolved_database_url, settings.resolved_lake_root
    with logged_run("experiments", {"campaign": campaign}) as stats:
        looked = decide_experiments_task(url, lake, campaign)
        reports = []
        for name in [campaign] if campaign else [item["campaign"] for item in looked]:
            report = experiment_report_task(url, lake, name, str(settings.artifacts_dir))
            key = _key(name)
            create_table_artifact(
                key=key, table=report["rows"] or [{"variant": "-"}], description="Variants."
            )
            create_markdown_artifact(key=f"{key}-report", markdown=report["markdown"])
            reports.append(report["campaign"])
        stats.update({"experiments": len(looked), "decided": sum(1 for x in looked if x["decided"])})
    return {"looked": looked, "reports": reports}
