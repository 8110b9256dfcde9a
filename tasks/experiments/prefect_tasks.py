"""Prefect tasks of experiments: thin wrappers passing URLs and names only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from aicmo.storage.db import get_engine, transaction
from aicmo.storage.experiments import undecided_campaign_ids
from aicmo.storage.lake import Lake
from aicmo.storage.publishing import get_campaign
from aicmo.tasks.experiments.decide import advance
from aicmo.tasks.experiments.report import build_report, markdown, plot


@task(name="decide-experiments", persist_result=False)
def decide_experiments_task(
    database_url: str, lake_root: str, name: str | None = None
) -> list[dict[str, Any]]:
    """Look at every undecided experiment (or the named campaign's); decided ones get their rest planned."""
    engine = get_engine(database_url)
    with transaction(engine) as session:
        ids = undecided_campaign_ids(session)
        if name is not None:
            ids = [cid for cid in ids if cid == get_campaign(session, name).id]
    out: list[dict[str, Any]] = []
    for campaign_id in ids:
        progress = advance(engine, Lake(lake_root), campaign_id)
        out.append(
            {
                "campaign": progress.campaign,
                "decided": progress.decided,
                "decision": progress.look.reason if progress.look and progress.decided else progress.already,
                "rest_planned": progress.rest_planned,
            }
        )
    return out


@task(name="experiment-report", persist_result=False)
def experiment_report_task(
    database_url: str, lake_root: str, name: str, artifacts_dir: str
) -> dict[str, Any]:
    """The report's table rows and its markdown (with the plot embedded)."""
    report = build_report(get_engine(database_url), Lake(lake_root), name)
    png = plot(report, Path(artifacts_dir) / f"experiment-{report.campaign_id}.png")
    return {
        "campaign": report.campaign,
        "rows": report.variants,
        "lift": report.lift,
        "markdown": markdown(report, png),
    }
