"""Reports of the sample-data flow: what was written, and the ground truth it injected."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact


def counts_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows written per table, then events per type."""
    rows: list[dict[str, Any]] = [
        {"what": name, "rows": summary[key]}
        for name, key in (
            ("contacts", "contacts"),
            ("companies", "companies"),
            ("campaigns", "campaigns"),
            ("assets", "assets"),
            ("events", "events"),
            ("orders", "orders"),
            ("ad_spend rows", "ad_spend_rows"),
        )
    ]
    rows += [{"what": f"events: {t}", "rows": n} for t, n in sorted(summary["events_by_type"].items())]
    return rows


def publish_sample_data(summary: dict[str, Any]) -> None:
    """Row counts per table and event type, and the injected truth (anomaly day, broken campaign, models)."""
    create_table_artifact(
        key="sample-data-counts",
        table=counts_table(summary),
        description=f"Sample data {summary['start']} .. {summary['end']}, seed {summary['seed']}.",
    )
    truth = summary["truth"]
    create_markdown_artifact(
        key="sample-data-truth",
        markdown="\n".join(
            [
                f"# Sample data, seed {summary['seed']}",
                "",
                f"- window: {summary['start']} .. {summary['end']} ({summary['days']} days)",
                f"- injected bounce spike: {truth['anomaly_day']} ({truth['anomaly_day_bounces']} email bounces, "
                f"median day {truth['median_daily_bounces']:.0f})",
                f"- broken campaign (no opens or clicks): #{truth['broken_campaign_id']} "
                f"{truth['broken_campaign_name']}",
                f"- BG/NBD (days): {truth['bgnbd']}",
                f"- Gamma-Gamma: {truth['gamma_gamma']}",
                f"- ground truth file: `{summary['truth_path']}`",
            ]
        ),
        description="What the generator injected, for checking analytics against.",
    )
