"""The ``aggregate`` flow (phase 3): KPIs, attribution, trends and data quality over the lake.

It picks the work (which day partitions to recompute, over which window), calls the analytics
tasks, and publishes the run's report (``tasks/analytics/report.py``). Results land in the lake
(``kpis_daily``, ``event_quality``, ``attribution``); the flow returns a small plain dict for the
demo and the CLI.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect import flow

from aicmo import wiring
from aicmo.fanout import chunked, task_runner
from aicmo.flows.monitoring import analytics_step
from aicmo.flows.params import Day, check_range
from aicmo.flows.run_log import logged_run, run_folder
from aicmo.flows.steps import skipped
from aicmo.settings import get_settings
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics import quality
from aicmo.tasks.analytics.campaigns import known_campaign_ids
from aicmo.tasks.analytics.kpis import touched_days
from aicmo.tasks.analytics.prefect_tasks import attribution_task, daily_kpis_task, rollups_task, trends_task
from aicmo.tasks.analytics.report import Window, aggregate_summary, publish_aggregate

FLOW_NAME = "aggregate"


def event_window(lake: Lake, start: date | None, end: date | None) -> Window:
    """``[start, end]`` with an open end filled in from the first/last day of events in the lake."""
    days = [
        d for d in lake.partitions("events") if (start is None or d >= start) and (end is None or d <= end)
    ]
    return (start or (days[0] if days else None), end or (days[-1] if days else None))


def recompute_kpis(
    lake_root: str, database_url: str, days: list[date], known: list[int] | None, now: datetime
) -> dict[str, int]:
    """Recompute the days' KPIs as one task per chunk of days, run side by side by the flow's task runner.

    A day's KPIs do not depend on which other days are recomputed with it, so the chunks add up to
    what one task over every day gives.
    """
    chunks = chunked(sorted(days), get_settings().fanout_chunk_days)
    futures = [daily_kpis_task.submit(lake_root, database_url, chunk, known, now) for chunk in chunks]
    totals: dict[str, int] = {"kpi_rows": 0, "days": 0}
    for future in futures:
        for key, value in future.result().items():
            totals[key] = totals.get(key, 0) + value
    return totals


@flow(name=FLOW_NAME, log_prints=False, task_runner=task_runner())
def aggregate(start: Day | None = None, end: Day | None = None, full: bool = False) -> dict[str, Any]:
    """Recompute daily KPIs for the touched days (all with ``full``), then roll-ups, attribution
    and trends over ``[start, end]`` (default: every day in the lake), and publish artifacts.

    Args:
        start: First day of the window (default: the first day of events).
        end: Last day of the window, inclusive (default: the last day of events).
        full: Recompute the KPIs of every day of the window, not only the days written since.
    """
    check_range(start, end)
    settings, analytics = get_settings(), get_settings().analytics
    lake, engine = wiring.lake(), wiring.engine()
    if (
        event_window(lake, start, end)[0] is None
        or not lake.scan("events", start, end).head(1).collect().height
    ):
        where = f" from {start or 'the start'} to {end or 'the end'}" if start or end else ""
        return skipped(
            f"no events in the lake{where}: send a campaign, run `aicmo serve`, or `aicmo events import`"
        )
    now = datetime.now(UTC)
    with (
        analytics_step(FLOW_NAME),
        logged_run(FLOW_NAME, {"start": start, "end": end, "full": full}) as stats,
    ):
        known = known_campaign_ids(engine)
        with transaction(engine) as session:
            days = touched_days(session, lake, start, end, full=full)
        window = event_window(lake, start, end)
        recomputed = recompute_kpis(lake.root, settings.resolved_database_url, days, known, now)
        rollups = rollups_task(lake.root, window[0], window[1], known, now)
        attribution = attribution_task(
            lake.root,
            window[0],
            window[1],
            known,
            now,
            analytics.attribution_lookback_days,
            analytics.time_decay_half_life_days,
            analytics.attribution_markov_order,
        )
        out_dir = run_folder(settings.artifacts_dir / "aggregate", now)
        trends = trends_task(
            lake.root, window[0], window[1], rollups["campaign"], analytics.anomaly_z_threshold, str(out_dir)
        )
        bad = quality.summarize(lake.scan("event_quality", window[0], window[1]).drop("dt").collect())
        publish_aggregate(window, rollups, bad, attribution, trends)
        summary = aggregate_summary(
            window, len(days), recomputed["kpi_rows"], rollups, bad, attribution, trends
        )
        stats.update({k: summary[k] for k in ("window", "days_recomputed", "kpi_rows", "events")})
    return summary
