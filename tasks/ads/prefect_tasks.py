"""Prefect tasks of the paid-ads phase: thin wrappers over the plain functions, passing paths and dates.

Kept apart from the plain modules so that the ``aicmo ads`` commands do not import Prefect.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import task

from aicmo.progress import progress_artifact
from aicmo.settings import AdsSettings, CurrencySettings
from aicmo.storage.db import get_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.ads.allocation import plans_for_pacing
from aicmo.tasks.ads.importer import ImportReport, import_reports, total_bytes
from aicmo.tasks.ads.pacing import Flight, pace_flights
from aicmo.tasks.ads.roi import RoiReport, roi_report, write_daily_roi
from aicmo.tasks.analytics.rates import configured_rates, rates_hint


@task(name="import-ad-reports", persist_result=False)
def import_ad_reports_task(
    lake_root: str,
    database_url: str,
    paths: list[str],
    currency: CurrencySettings,
    day_first: bool = False,
) -> ImportReport:
    """Import a batch of report files into ``ad_spend`` (each platform/account's days replaced),
    with an ``ads-import-progress`` artifact of the bytes read.

    Rates come from the configured CSV file, else from the configured Frankfurter server through
    the gateway.
    """
    files = [Path(p) for p in paths]
    with progress_artifact("ads-import-progress", "ad report bytes read (%)", total_bytes(files)) as advance:
        return import_reports(
            files,
            Lake(lake_root),
            engine=get_engine(database_url),
            rates=configured_rates(currency),
            reporting_currency=currency.reporting_currency,
            day_first=day_first,
            rates_hint=rates_hint(currency),
            progress=advance,
        )


@task(name="ads-roi", persist_result=False)
def ads_roi_task(
    lake_root: str, start: date | None, end: date | None, currency: CurrencySettings | None = None
) -> tuple[RoiReport, int]:
    """Cost and return roll-ups of the window; writes ``ads_roi_daily`` and returns the days written."""
    lake = Lake(lake_root)
    report = roi_report(lake, start, end, currency=currency)
    return report, len(write_daily_roi(lake, report))


@task(name="ads-pacing", persist_result=False)
def ads_pacing_task(
    lake_root: str, flights: list[Flight], today: date, tolerance: float
) -> list[dict[str, Any]]:
    """Pacing rows of the given flights on ``today``."""
    return [p.row() for p in pace_flights(flights, Lake(lake_root).scan("ad_spend"), today, tolerance)]


@task(name="ads-allocation-plan", persist_result=False)
def allocation_plan_task(
    lake_root: str, pacing: list[dict[str, Any]], today: date, settings: AdsSettings
) -> list[dict[str, object]]:
    """Dry-run allocation of today's budget of each running flight (seeded by the day: repeatable)."""
    import numpy as np

    return plans_for_pacing(
        Lake(lake_root).scan("ad_spend"),
        pacing,
        rng=np.random.default_rng(today.toordinal()),
        floor=settings.exploration_floor,
        cap=settings.max_share,
        prior_clicks=settings.prior_strength,
    )


@task(name="ads-apply-plan", persist_result=False)
def apply_plan_task(
    lake_root: str, database_url: str, plan: list[dict[str, object]], settings: AdsSettings, dry_run: bool
) -> list[dict[str, Any]]:
    """Set the plan's budgets on the platforms (or, dry run, only log the changes); one row each."""
    from aicmo.tasks.ads.plan_apply import apply_plan

    return apply_plan(
        Lake(lake_root).scan("ad_spend"), plan, settings, get_engine(database_url), dry_run=dry_run
    )
