"""The scoring flow (phase 3): engagement, LTV, tiers, RFM segments and cohorts as of one day.

It only orchestrates: the tasks compute into the lake (``ltv`` snapshot, ``cohort_retention``),
write the contacts' score columns in bulk, and draw the heatmaps; the flow publishes artifacts
and returns a small summary (fitted parameters, tier and segment counts, file paths).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo.flows.run_log import logged_run
from aicmo.settings import get_settings
from aicmo.tasks.analytics.cohorts import Period, cohort_matrix
from aicmo.tasks.analytics.score_steps import (
    TierMethod,
    build_cohorts_task,
    build_scores_task,
    default_as_of,
    store_scores_task,
)
from aicmo.wiring import lake

MAX_MATRIX_ROWS = 36


def _params_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for model in ("bgnbd", "gamma_gamma"):
        fitted = summary.get(model) or {}
        for name in ("r", "alpha", "a", "b", "p", "q", "v"):
            if name in fitted:
                rows.append({"model": model, "parameter": name, "value": round(float(fitted[name]), 6)})
    return rows


def _publish(day: date, scores: dict[str, Any], stored: dict[str, int], cohorts: dict[str, Any]) -> None:
    key_day = day.isoformat()
    create_table_artifact(
        key="score-tiers",
        table=[{"tier": t, "contacts": n} for t, n in scores["tiers"].items()]
        + [{"tier": f"segment: {s}", "contacts": n} for s, n in scores["rfm_segments"].items()],
        description=f"Tiers and RFM segments as of {key_day}; {stored['tier_changes']} tier changes recorded.",
    )
    params = _params_rows(scores)
    if params:
        create_table_artifact(
            key="score-ltv-models",
            table=params,
            description=f"BG/NBD (days) and Gamma-Gamma parameters fitted as of {key_day}.",
        )
    retention = lake().read_partition("cohort_retention", day)
    for basis in ("orders", "events"):
        part = retention.filter(pl.col("basis") == basis)
        if part.is_empty():
            continue
        wide = cohort_matrix(part).tail(MAX_MATRIX_ROWS)
        table = [
            {
                k: (round(v, 4) if isinstance(v, float) else (str(v) if isinstance(v, date) else v))
                for k, v in row.items()
            }
            for row in wide.iter_rows(named=True)
        ]
        create_table_artifact(
            key=f"cohort-retention-{basis}",
            table=table,
            description=f"Retention by {cohorts['period']} cohort ({basis}) as of {key_day}.",
        )
    if cohorts["pngs"]:
        lines = [f"# Cohort heatmaps as of {key_day}", ""]
        for name, path in cohorts["pngs"].items():
            lines += [f"## {name.replace('_', ' ')}", "", f"![{name}](file://{path})", "", f"`{path}`", ""]
        create_markdown_artifact(
            key="cohort-heatmaps", markdown="\n".join(lines), description="Cohort heatmap PNGs"
        )


@flow(name="score")
def score(
    as_of: date | None = None, tier_method: TierMethod = "thresholds", cohort_period: Period = "month"
) -> dict[str, Any]:
    """Score every contact as of ``as_of`` (default: the lake's last day of data, not after today).

    Returns ``{"as_of", "contacts_scored", "customers", "bgnbd", "gamma_gamma", "tiers",
    "rfm_segments", "store": {"updated", "tier_changes", "unknown_contacts"}, "cohorts": {...}}``.
    """
    settings = get_settings()
    the_lake = lake()
    day = as_of or default_as_of(the_lake)
    scored_at = datetime.now(UTC)
    with logged_run("score", {"as_of": day, "tier_method": tier_method}) as stats:
        scores = build_scores_task(the_lake.root, day, settings.analytics, tier_method)
        stored = store_scores_task(settings.resolved_database_url, the_lake.root, day, scored_at)
        cohorts = build_cohorts_task(the_lake.root, day, str(settings.artifacts_dir), cohort_period)
        _publish(day, scores, stored, cohorts)
        stats.update({**scores, "store": stored, "cohorts": cohorts})
    return stats
