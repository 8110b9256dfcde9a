"""Reports of the analytics flows: Prefect artifacts (tables, markdown, plots) and the plain summaries.

The flows only orchestrate; what a run shows in the Prefect UI and what it returns to the demo
and the CLI is built here. Text that came from the data (campaign names, channels) is escaped
as markdown table cells.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo.storage.lake import Lake
from aicmo.tasks.analytics import quality
from aicmo.tasks.analytics.attribution import Attribution
from aicmo.tasks.analytics.cohorts import cohort_matrix
from aicmo.tasks.analytics.png import embedded_png_markdown
from aicmo.tasks.analytics.trends import TrendReport

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
MAX_MATRIX_ROWS = 36
Window = tuple[date | None, date | None]


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats rounded for display; anything else as it is."""
    return round(value, digits) if isinstance(value, float) else value


def table_rows(df: pl.DataFrame, limit: int = 200) -> list[dict[str, Any]]:
    """Rows for a table artifact: JSON-friendly values, floats rounded."""
    return [
        {k: rounded(v) if not isinstance(v, date) else v.isoformat() for k, v in row.items()}
        for row in df.head(limit).iter_rows(named=True)
    ]


# ---- aggregate -------------------------------------------------------------------------------


def aggregate_markdown(
    window: Window,
    overall: dict[str, Any],
    bad: dict[str, int],
    attribution: Attribution,
    trends: TrendReport,
) -> str:
    """The aggregate run's summary: overall KPIs, data quality, attribution per channel, anomalies."""
    lines = [
        f"# Aggregate {window[0]} .. {window[1]}",
        "",
        "## KPIs (overall)",
        "",
        "| KPI | value |",
        "| --- | ---: |",
    ]
    lines += [f"| {k} | {rounded(overall.get(k))} |" for k in (*SUMMARY_KPIS, *SUMMARY_RATES)]
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
    lines += _anomaly_lines(trends)
    return "\n".join(lines) + "\n"


def _anomaly_lines(trends: TrendReport) -> list[str]:
    lines = []
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
    return lines


def publish_aggregate(
    window: Window,
    rollups: dict[str, pl.DataFrame],
    bad: dict[str, int],
    attribution: Attribution,
    trends: TrendReport,
) -> None:
    """The aggregate run's artifacts: KPI and attribution tables, anomalies, the summary, the plots."""
    create_table_artifact(
        table_rows(rollups["campaign"]), key="kpis-by-campaign", description="KPIs per campaign"
    )
    create_table_artifact(
        table_rows(rollups["channel"]), key="kpis-by-channel", description="KPIs per channel"
    )
    create_table_artifact(
        table_rows(attribution.by_channel()),
        key="attribution-by-channel",
        description="Conversions per channel and model",
    )
    create_table_artifact(
        table_rows(attribution.markov.frame()),
        key="markov-removal-effects",
        description="Markov removal effects",
    )
    if trends.anomalies.height:
        create_table_artifact(table_rows(trends.anomalies), key="kpi-anomalies", description="Anomalous days")
    overall = overall_kpis(rollups)
    create_markdown_artifact(
        aggregate_markdown(window, overall, bad, attribution, trends), key="aggregate-summary"
    )
    if trends.plots:
        create_markdown_artifact(
            embedded_png_markdown("KPI trends", [(p.stem.replace("_", " "), p) for p in trends.plots]),
            key="kpi-trend-charts",
            description="Daily KPIs with their 7-day mean and anomalies (charts of this run)",
        )


def overall_kpis(rollups: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """The overall roll-up's one row, empty when there was nothing to roll up."""
    return rollups["overall"].row(0, named=True) if rollups["overall"].height else {}


def aggregate_summary(
    window: Window,
    days_recomputed: int,
    kpi_rows: int,
    rollups: dict[str, pl.DataFrame],
    bad: dict[str, int],
    attribution: Attribution,
    trends: TrendReport,
) -> dict[str, Any]:
    """The plain dict an aggregate run returns (the demo and the CLI print it)."""
    overall = overall_kpis(rollups)
    return {
        "window": [d.isoformat() if d else None for d in window],
        "days_recomputed": days_recomputed,
        "kpi_rows": kpi_rows,
        "events": bad["total_rows"],
        "bad_events": {k: bad[k] for k in (*quality.ISSUES, "bad_rows")},
        "kpis": {k: rounded(overall.get(k)) for k in (*SUMMARY_KPIS, *SUMMARY_RATES)},
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


# ---- score -----------------------------------------------------------------------------------


def _params_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for model in ("bgnbd", "gamma_gamma"):
        fitted = summary.get(model) or {}
        for name in ("r", "alpha", "a", "b", "p", "q", "v"):
            if name in fitted:
                rows.append({"model": model, "parameter": name, "value": round(float(fitted[name]), 6)})
    return rows


def publish_scores(
    lake: Lake, day: date, scores: dict[str, Any], stored: dict[str, int], cohorts: dict[str, Any]
) -> None:
    """The score run's artifacts: tiers and segments, fitted LTV models, cohort retention, heatmaps."""
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
    retention = lake.read_partition("cohort_retention", day)
    for basis in ("orders", "events"):
        part = retention.filter(pl.col("basis") == basis)
        if part.is_empty():
            continue
        wide = cohort_matrix(part).tail(MAX_MATRIX_ROWS)
        create_table_artifact(
            key=f"cohort-retention-{basis}",
            table=table_rows(wide, limit=MAX_MATRIX_ROWS),
            description=f"Retention by {cohorts['period']} cohort ({basis}) as of {key_day}.",
        )
    if cohorts["pngs"]:
        charts = [(name.replace("_", " "), Path(path)) for name, path in cohorts["pngs"].items()]
        create_markdown_artifact(
            key="cohort-heatmaps",
            markdown=embedded_png_markdown(f"Cohort heatmaps as of {key_day}", charts),
            description="Cohort heatmaps (charts of this run)",
        )
