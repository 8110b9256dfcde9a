"""The scoring flow (phase 3): engagement, LTV, tiers, RFM segments and cohorts as of one day.

It only orchestrates: the tasks compute into the lake (``ltv`` snapshot, ``cohort_retention``),
write the contacts' score columns in bulk, and draw the heatmaps; the flow publishes the run's
report (``tasks/analytics/report.py``) and returns a small summary (fitted parameters, tier and
segment counts, file paths).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from aicmo.flows.monitoring import analytics_step
from aicmo.flows.params import Day
from aicmo.flows.run_log import logged_run, run_folder
from aicmo.settings import get_settings
from aicmo.tasks.analytics.cohorts import Period
from aicmo.tasks.analytics.prefect_tasks import build_cohorts_task, build_scores_task, store_scores_task
from aicmo.tasks.analytics.report import publish_scores
from aicmo.tasks.analytics.score_steps import TierMethod, default_as_of
from aicmo.wiring import lake

FLOW_NAME = "score"


@flow(name=FLOW_NAME)
def score(
    as_of: Day | None = None, tier_method: TierMethod = "thresholds", cohort_period: Period = "month"
) -> dict[str, Any]:
    """Score every contact as of ``as_of`` (default: the lake's last day of data, not after today).

    Returns ``{"as_of", "contacts_scored", "customers", "bgnbd", "gamma_gamma", "tiers",
    "rfm_segments", "store": {"updated", "tier_changes", "unknown_contacts"}, "cohorts": {...}}``.

    Args:
        as_of: Day the scores are computed for (default: the lake's last day of data).
        tier_method: thresholds (fixed LTV bounds) or quantiles (shares of the customers).
        cohort_period: Cohorts by month or by week.
    """
    settings = get_settings()
    the_lake = lake()
    day = as_of or default_as_of(the_lake)
    scored_at = datetime.now(UTC)
    with (
        analytics_step(FLOW_NAME),
        logged_run(FLOW_NAME, {"as_of": day, "tier_method": tier_method}) as stats,
    ):
        scores = build_scores_task(the_lake.root, day, settings.analytics, tier_method, settings.currency)
        stored = store_scores_task(settings.resolved_database_url, the_lake.root, day, scored_at)
        out_dir = run_folder(settings.artifacts_dir / "score", scored_at)
        cohorts = build_cohorts_task(the_lake.root, day, str(out_dir), cohort_period, settings.currency)
        publish_scores(the_lake, day, scores, stored, cohorts)
        stats.update({**scores, "store": stored, "cohorts": cohorts})
    return stats
