"""The ``aggregate`` flow (phase 3): KPIs, attribution, trends and data quality over the lake.

It picks the work (which day partitions to recompute), calls the analytics tasks, and writes
Prefect artifacts: KPI and attribution tables, a markdown summary with the data-quality counts,
and the trend plots. Results land in the lake (``kpis_daily``, ``event_quality``,
``attribution``); the flow returns a small plain dict for the demo and the CLI.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from prefect import flow
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from sqlalchemy import select

from aicmo import wiring
from aicmo.models.publishing import Campaign
from aicmo.settings import get_settings
from aicmo.storage.db import transaction
from aicmo.tasks.analytics import quality
from aicmo.tasks.analytics.attribution import Attribution, attribution_task
from aicmo.tasks.analytics.kpis import daily_kpis_task, rollups_task, touched_days
from aicmo.tasks.analytics.trends import TrendReport, trends_task

SUMMARY_KPIS = ("sends", "deliveries", "unique_opens", "unique_clicks", "conversions", "revenue", "cost")
SUMMARY_RATES = (
    "delivery_rate",
    "open_rate",
    "ctr",
    "click_to_open",
    "conversion_rate",
    "cpa",
    "roas",
    "roi",
)


def _rounded(value: Any, digits: int = 4) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def _table(df: pl.DataFrame, limit: int = 200) -> list[dict[str, Any]]:
    """Rows for a table artifact: JSON-friendly values, floats rounded."""
    return [
        {k: _rounded(v) if not isinstance(v, date) else v.isoformat() for k, v in row.items()}
        for row in df.head(limit).iter_rows(named=True)
    ]


def _markdown(
    window: tuple[date | None, date | None],
    overall: dict[str, Any],
    bad: dict[str, int],
    attribution: Attribution,
    trends: TrendReport,
) -> str:
    lines = [
        f"# Aggregate {window[0]} .. {window[1]}",
        "",
        "## KPIs (overall)",
        "",
        "| KPI | value |",
        "| --- | ---: |",
    ]
    lines += [f"| {k} | {_rounded(overall.get(k))} |" for k in (*SUMMARY_KPIS, *SUMMARY_RATES)]
    lines += ["", quality.markdown_from_totals(bad), "## Attribution (conversions credited per channel)", ""]
    by_channel = attribution.by_channel()
    if by_channel.height:
        lines.append("| channel | " + " | ".join(by_channel.columns[1:]) + " |")
        lines.append("| --- |" + " ---: |" * (by_channel.width - 1))
        for row in by_channel.iter_rows():
            lines.append(f"| {row[0]} | " + " | ".join(f"{v:.2f}" for v in row[1:]) + " |")
    lines += [
        "",
        f"{attribution.unattributed_conversions:,} of {attribution.conversions:,} conversions had no touchpoint "
        "in the lookback window and are not credited.",
        "",
        "## Anomalies",
        "",
    ]
    if trends.anomalies.height:
        for anomaly in trends.anomalies.iter_rows(named=True):
            lines.append(
                f"- {anomaly['day']} {anomaly['scope']} {anomaly['metric']}: {anomaly['value']:.4g} vs "
                f"baseline {anomaly['baseline']:.4g} (z = {anomaly['z']:.1f}, {anomaly['direction']})"
            )
    else:
        lines.append("- no day stood out against its same-weekday baseline")
    for broken in trends.campaigns.iter_rows(named=True) if trends.campaigns.height else []:
        lines.append(
            f"- campaign {broken['campaign_id']} ({broken['channel']}): {broken['reason']} (z = {broken['z']:.1f})"
        )
    return "\n".join(lines) + "\n"


@flow(name="aggregate", log_prints=False)
def aggregate(start: date | None = None, end: date | None = None, full: bool = False) -> dict[str, Any]:
    """Recompute daily KPIs for the touched days (all with ``full``), then roll-ups, attribution
    and trends over ``[start, end]`` (default: every day in the lake), and publish artifacts."""
    settings = get_settings()
    lake, engine = wiring.lake(), wiring.engine()
    now = datetime.now(UTC)
    with transaction(engine) as session:
        known = sorted(session.scalars(select(Campaign.id)))
        days = touched_days(session, lake, start, end, full=full)
    event_days = [
        d for d in lake.partitions("events") if (start is None or d >= start) and (end is None or d <= end)
    ]
    window = (
        start or (event_days[0] if event_days else None),
        end or (event_days[-1] if event_days else None),
    )

    recomputed = daily_kpis_task(lake.root, settings.resolved_database_url, days, known, now)
    rollups = rollups_task(lake.root, window[0], window[1], known, now)
    attribution = attribution_task(
        lake.root,
        window[0],
        window[1],
        known,
        now,
        settings.analytics.attribution_lookback_days,
        settings.analytics.time_decay_half_life_days,
        settings.analytics.attribution_markov_order,
    )
    out_dir = settings.artifacts_dir / "aggregate"
    trends = trends_task(
        lake.root,
        window[0],
        window[1],
        rollups["campaign"],
        settings.analytics.anomaly_z_threshold,
        str(out_dir),
    )
    quality_report = lake.scan("event_quality", window[0], window[1]).drop("dt").collect()
    bad = quality.summarize(quality_report)
    overall = rollups["overall"].row(0, named=True) if rollups["overall"].height else {}

    create_table_artifact(
        _table(rollups["campaign"]), key="kpis-by-campaign", description="KPIs per campaign"
    )
    create_table_artifact(_table(rollups["channel"]), key="kpis-by-channel", description="KPIs per channel")
    create_table_artifact(
        _table(attribution.by_channel()),
        key="attribution-by-channel",
        description="Conversions per channel and model",
    )
    create_table_artifact(
        _table(attribution.markov.frame()), key="markov-removal-effects", description="Markov removal effects"
    )
    if trends.anomalies.height:
        create_table_artifact(_table(trends.anomalies), key="kpi-anomalies", description="Anomalous days")
    create_markdown_artifact(_markdown(window, overall, bad, attribution, trends), key="aggregate-summary")
    for plot in trends.plots:
        create_image_artifact(plot.resolve().as_uri(), description=f"trend plot {plot.name}")

    return {
        "window": [d.isoformat() if d else None for d in window],
        "days_recomputed": len(days),
        "kpi_rows": recomputed["kpi_rows"],
        "events": bad["total_rows"],
        "bad_events": {k: bad[k] for k in (*quality.ISSUES, "bad_rows")},
        "kpis": {k: _rounded(overall.get(k)) for k in (*SUMMARY_KPIS, *SUMMARY_RATES)},
        "attribution": {
            "conversions": attribution.conversions,
            "credited_conversions": attribution.credited_conversions,
            "revenue": round(attribution.revenue, 2),
            "removal_effects": {k: round(v, 4) for k, v in attribution.markov.removal_effects.items()},
            "by_channel": {
                row["channel"]: {k: round(v, 2) for k, v in row.items() if k != "channel"}
                for row in attribution.by_channel().iter_rows(named=True)
            },
        },
        "anomalies": [
            {"day": r["day"].isoformat(), "scope": r["scope"], "metric": r["metric"], "z": round(r["z"], 1)}
            for r in trends.anomalies.iter_rows(named=True)
        ],
        "broken_campaigns": sorted(set(trends.campaigns["campaign_id"].to_list()))
        if trends.campaigns.height
        else [],
        "plots": [str(p) for p in trends.plots],
    }
