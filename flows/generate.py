"""The sample-data flow: write a deterministic dataset into the store and the lake, then report it."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo.tasks.sample.task import generate_sample_task


def _counts_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
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


@flow(name="generate-sample-data", log_prints=False)
def generate_sample_data(
    contacts: int = 5000, days: int = 90, seed: int = 7, end: date | None = None
) -> dict[str, Any]:
    """Generate ``contacts`` contacts and ``days`` days of activity (seeded), ending ``end`` (default yesterday)."""
    summary = generate_sample_task(contacts, days, seed, end)
    create_table_artifact(
        key="sample-data-counts",
        table=_counts_table(summary),
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
    return summary
