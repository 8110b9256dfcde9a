"""The paid-ads flow: import report files (when given), cost and ROI roll-ups into the lake, pacing
of the ads campaigns that have a budget and flight dates, and the tables as Prefect artifacts.

It only orchestrates; the work is in ``aicmo.tasks.ads``. Names in the artifacts come from report
files and are escaped for markdown.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo import wiring
from aicmo.errors import ProviderUnavailable
from aicmo.flows.params import Day, check_range
from aicmo.flows.run_log import logged_run
from aicmo.settings import get_settings
from aicmo.tasks.ads.pacing import store_flights
from aicmo.tasks.ads.plan_apply import CHANGE_STATUSES
from aicmo.tasks.ads.prefect_tasks import (
    ads_pacing_task,
    ads_roi_task,
    allocation_plan_task,
    apply_plan_task,
    import_ad_reports_task,
)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
ARTIFACT_ROWS = 200


def escape_markdown(text: str) -> str:
    """Text from a file or an API, safe inside a markdown artifact (no links, HTML or tables)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def table_rows(df: pl.DataFrame, limit: int = ARTIFACT_ROWS) -> list[dict[str, Any]]:
    """Rows for a table artifact: floats rounded, text escaped, dates as ISO strings."""
    rows = []
    for row in df.head(limit).iter_rows(named=True):
        out: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, float):
                out[key] = round(value, 4)
            elif isinstance(value, str):
                out[key] = escape_markdown(value)
            elif isinstance(value, date):
                out[key] = value.isoformat()
            else:
                out[key] = value
        rows.append(out)
    return rows


@flow(name="ads")
def ads(
    files: list[str] | None = None,
    start: Day | None = None,
    end: Day | None = None,
    today: Day | None = None,
) -> dict[str, Any]:
    """Import ``files`` (if any), write ``ads_roi_daily`` for the window, pace the flights; returns a summary.

    The day's allocation of each running flight is set on the platforms when
    ``AICMO_ADS_APPLY_CHANGES`` is on, else logged as a dry run (``aicmo ads changes`` lists both);
    a refused change fails the run after the others went through, naming it.
    With no ad spend in the lake, no files and no ads campaign with a budget the run ends ``Skipped``.

    Args:
        files: Ad-platform report files (Google Ads, Meta, generic CSV) to import first.
        start: First day of the cost and ROI window (default: the first day of spend).
        end: Last day of the window, inclusive (default: the last day of spend).
        today: The day pacing is computed for (default: today, UTC).
    """
    from aicmo.flows.steps import skipped

    check_range(start, end)
    settings = get_settings()
    lake = wiring.lake()
    today = today or datetime.now(UTC).date()
    with logged_run("ads", {"files": files or [], "start": start, "end": end, "today": today}) as stats:
        if not files and not lake.partitions("ad_spend") and not store_flights(wiring.engine()):
            reason = "no ad spend in the lake and no ads campaign with a budget: import reports with `aicmo ads import`"
            stats["skipped"] = reason
            return skipped(reason)
        if files:
            imported = import_ad_reports_task(
                lake.root,
                settings.resolved_database_url,
                files,
                settings.currency,
                settings.ads.day_first,
            )
            stats["import"] = imported.summary()
        report, days = ads_roi_task(lake.root, start, end, settings.currency)
        stats["roi_days_written"] = days
        stats["totals"] = {k: round(v, 4) for k, v in report.totals().items()}
        flights = store_flights(wiring.engine())
        pacing = ads_pacing_task(lake.root, flights, today, settings.ads.pacing_tolerance) if flights else []
        stats["pacing"] = {
            s: sum(1 for p in pacing if p["status"] == s) for s in ("on_pace", "over", "under")
        }
        create_table_artifact(
            table_rows(report.by["campaign"]),
            key="ads-roi-by-campaign",
            description="Paid ads cost and return per campaign",
        )
        create_table_artifact(
            table_rows(report.channels),
            key="ads-vs-owned-channels",
            description="Paid platforms beside owned channels",
        )
        if pacing:
            create_table_artifact(
                table_rows(pl.DataFrame(pacing)),
                key="ads-pacing",
                description="Budget pacing of the ads campaigns",
            )
        allocation = allocation_plan_task(lake.root, pacing, today, settings.ads) if pacing else []
        apply = settings.ads.apply_changes
        changes = (
            apply_plan_task(lake.root, settings.resolved_database_url, allocation, settings.ads, not apply)
            if allocation
            else []
        )
        stats["allocation"] = {
            "ad_sets": len(allocation),
            "mode": "apply" if apply else "dry_run",
            **{s: sum(1 for c in changes if c["status"] == s) for s in CHANGE_STATUSES},
        }
        if allocation:
            create_table_artifact(
                table_rows(pl.DataFrame(allocation)),
                key="ads-allocation-plan",
                description="Today's budget per ad set ("
                + ("set on the platforms" if apply else "dry run: AICMO_ADS_APPLY_CHANGES=true sets it")
                + ")",
            )
        if changes:
            create_table_artifact(
                table_rows(pl.DataFrame(changes, infer_schema_length=None)),
                key="ads-budget-changes",
                description="Budget changes made, logged as a dry run, refused, or left out (with why)",
            )
        flagged = [p for p in pacing if p["status"] in ("over", "under")]
        lines = [
            "# Paid ads",
            "",
            f"- spend {stats['totals']['spend']:,.2f} {escape_markdown(settings.currency.reporting_currency)}, "
            f"platform-reported revenue {stats['totals']['revenue']:,.2f}, ROAS {stats['totals']['roas']:.2f}",
            f"- ads_roi_daily days written: {days}",
            *(
                f"- {escape_markdown(str(p['campaign']))}: {p['status']}-pacing ({p['pace']:.2f} of plan), "
                f"today's budget {p['today_budget']:,.2f}"
                for p in flagged
            ),
        ]
        create_markdown_artifact(key="ads-summary", markdown="\n".join(lines))
        refused = [c for c in changes if c["status"] == "failed"]
        if refused:  # after the others went through and every artifact is out
            raise ProviderUnavailable(
                f"{len(refused)} budget change(s) failed (see `aicmo ads changes`): "
                + "; ".join(
                    f"{c['platform']} {c['campaign']}/{c['ad_set'] or '*'}: {c['detail']}"
                    for c in refused[:3]
                )
            )
    return stats
