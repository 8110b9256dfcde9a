"""Prefect tasks of the analytics phase: thin wrappers over the plain functions.

They pass lake roots, database URLs, days and ids; the work (and what it returns) is the plain
functions' of ``kpis``, ``attribution``, ``trends`` and ``score_steps``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from prefect import task

from aicmo.settings import AnalyticsSettings, CurrencySettings
from aicmo.storage.db import get_engine, transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.tasks.analytics.attribution import Attribution, attribute_lake, write_credits
from aicmo.tasks.analytics.cohorts import Period
from aicmo.tasks.analytics.kpis import KPIS_TABLE, QUALITY_TABLE, recompute_daily_kpis, window_rollups
from aicmo.tasks.analytics.quality import summarize
from aicmo.tasks.analytics.score_steps import TierMethod, build_cohorts, build_scores, store_scores
from aicmo.tasks.analytics.trends import TrendReport, window_trend_report


@task(name="daily-kpis", persist_result=False)
def daily_kpis_task(
    lake_root: str, database_url: str, days: list[date], known_campaign_ids: list[int] | None, now: datetime
) -> dict[str, int]:
    """Recompute ``kpis_daily`` and ``event_quality`` for ``days``, record the partitions written.

    Returns the bad-event totals of those days (see :func:`aicmo.tasks.analytics.quality.summarize`)
    plus ``kpi_rows`` and ``days``.
    """
    written, report = recompute_daily_kpis(Lake(lake_root), days, known_campaign_ids, now)
    quality_days = {d: int(n) for d, n in report.group_by("day").agg(pl.len()).iter_rows()}
    with transaction(get_engine(database_url)) as session:
        record_partitions(session, KPIS_TABLE, written)
        record_partitions(session, QUALITY_TABLE, {d: quality_days.get(d, 0) for d in days})
    return {**summarize(report), "kpi_rows": sum(written.values()), "days": len(days)}


@task(name="kpi-rollups", persist_result=False)
def rollups_task(
    lake_root: str, start: date | None, end: date | None, known_campaign_ids: list[int] | None, now: datetime
) -> dict[str, pl.DataFrame]:
    """KPIs of the window per campaign, per channel and overall (unique counts from events)."""
    return window_rollups(Lake(lake_root), start, end, known_campaign_ids, now)


@task(name="attribution", persist_result=False)
def attribution_task(
    lake_root: str,
    start: date | None,
    end: date | None,
    known_campaign_ids: list[int] | None,
    now: datetime,
    lookback_days: float,
    half_life_days: float,
    markov_order: int = 1,
) -> Attribution:
    """Attribute the window's conversions from the lake and write the ``attribution`` partitions."""
    lake = Lake(lake_root)
    result = attribute_lake(
        lake, start, end, known_campaign_ids, now, lookback_days, half_life_days, markov_order
    )
    days = set(result.credits.get_column("day").to_list())
    if start is not None and end is not None:
        days |= {start + timedelta(days=i) for i in range((end - start).days + 1)}
    write_credits(lake, result.credits, days)
    return result


@task(name="trends", persist_result=False)
def trends_task(
    lake_root: str,
    start: date | None,
    end: date | None,
    campaign_kpis: pl.DataFrame,
    threshold: float,
    out_dir: str,
) -> TrendReport:
    """Trends of the window from the lake's ``kpis_daily`` and its history (:func:`window_trend_report`)."""
    return window_trend_report(
        Lake(lake_root), start, end, campaign_kpis, threshold=threshold, out_dir=Path(out_dir)
    )


@task(name="build-scores", persist_result=False)
def build_scores_task(
    lake_root: str,
    as_of: date,
    settings: AnalyticsSettings,
    tier_method: TierMethod = "thresholds",
    currency: CurrencySettings | None = None,
) -> dict[str, Any]:
    """Compute engagement, LTV, tiers and RFM for ``as_of`` into the lake's ``ltv`` snapshot."""
    return build_scores(Lake(lake_root), as_of, settings, tier_method=tier_method, currency=currency)


@task(name="store-scores", persist_result=False)
def store_scores_task(database_url: str, lake_root: str, as_of: date, scored_at: datetime) -> dict[str, int]:
    """Write the ``ltv`` snapshot onto the contacts in bulk."""
    return store_scores(database_url, Lake(lake_root), as_of, scored_at)


@task(name="build-cohorts", persist_result=False)
def build_cohorts_task(
    lake_root: str,
    as_of: date,
    artifacts_dir: str,
    period: Period = "month",
    currency: CurrencySettings | None = None,
) -> dict[str, Any]:
    """Cohort tables and heatmaps for ``as_of``."""
    return build_cohorts(Lake(lake_root), as_of, Path(artifacts_dir), period=period, currency=currency)
