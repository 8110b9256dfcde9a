"""The media flow (phase 4): ingest new creatives, then suggest what to retire, promote, refresh or merge.

It only orchestrates: the ingest task adds files (refusals reported, the batch goes on), the
suggest task computes performance from the lake, near-duplicates from the store and spec checks,
and stores the run's suggestions; the flow writes them as a table artifact and returns a summary.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from aicmo import wiring
from aicmo.flows.monitoring import report_library_size
from aicmo.flows.run_log import logged_run
from aicmo.flows.steps import skipped
from aicmo.settings import get_settings
from aicmo.storage.db import transaction
from aicmo.storage.media import asset_count
from aicmo.tasks.media.library import performance_rows, suggestion_rows
from aicmo.tasks.media.prefect_tasks import ingest_task, suggest_task


@flow(name="media-suggest", log_prints=True)
def media_suggest(
    paths: list[str] | None = None, owner: str | None = None, library: str | None = None
) -> dict[str, Any]:
    """Ingest ``paths`` (files or folders, optional), then write the library's suggestions.

    With an empty library and nothing to ingest the run ends ``Skipped``.

    Args:
        paths: Image files or folders to add to the library first (optional).
        owner: Owner recorded on the assets added.
        library: Library the assets added go into.
    """
    settings = get_settings()
    with logged_run("media-suggest", {"paths": paths or []}) as stats:
        ingested = ingest_task(settings.resolved_database_url, paths, owner, library) if paths else None
        with transaction(wiring.engine()) as session:
            assets = asset_count(session)
        if not assets:
            reason = "the media library is empty: add creatives with `aicmo media add`"
            stats["skipped"] = reason
            return skipped(reason, {"ingest": ingested})
        result = suggest_task(settings.resolved_database_url, settings.resolved_lake_root)
        report_library_size(assets)
        rows = suggestion_rows(result["suggestions"])
        create_table_artifact(
            key="media-suggestions",
            table=rows
            or [{"kind": "", "asset_id": "", "asset": "", "channel": "", "reason": "no suggestions"}],
            description=f"Media suggestions of {result['run_at']:%Y-%m-%d %H:%M} UTC ({len(rows)}).",
        )
        counts: dict[str, int] = {}
        for s in rows:
            counts[s["kind"]] = counts.get(s["kind"], 0) + 1
        summary = {
            "ingest": ingested,
            "suggestions": counts,
            "dupe_groups": len(result["dupe_groups"]),
            "near_duplicates": [
                {"keep": g.representative, "copies": ", ".join(str(m) for m in g.members[1:])}
                for g in result["dupe_groups"]
            ],
            "top_suggestions": rows[:12],
            "performance": performance_rows(result["performance"], limit=12),
        }
        stats.update({"suggestions": len(rows), "dupe_groups": summary["dupe_groups"]})
    return summary
