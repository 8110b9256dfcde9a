"""Reports of the revenue sync: the Stripe run's Prefect artifacts, saying what matched no contact."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo.tasks.providers.revenue import RevenueSyncReport

SUMMARY_KEY = "stripe-revenue-summary"


def revenue_markdown(report: RevenueSyncReport) -> str:
    """Customers, payments, orders written and money that matched no contact, in markdown."""
    money = ", ".join(f"{v:,.2f} {c.upper()}" for c, v in sorted(report.revenue.items())) or "0"
    lost = ", ".join(f"{v:,.2f} {c.upper()}" for c, v in sorted(report.unmatched_amount.items())) or "0"
    return "\n".join(
        [
            f"# Stripe revenue sync ({report.source})",
            "",
            f"- customers: {report.customers:,}",
            f"- payments seen: {report.payments_seen:,} (succeeded: {report.payments_succeeded:,})",
            f"- orders written: {report.orders_written:,} over {report.days_written:,} day(s), "
            f"for {report.contacts_matched:,} contact(s): {money}",
            f"- payments matching no contact: {report.unmatched_payments:,} "
            f"({report.unknown_emails:,} unknown email(s), {report.payments_without_email:,} without email): {lost}",
        ]
    )


def publish_revenue_sync(report: RevenueSyncReport) -> None:
    """The gateway's metrics of the Stripe calls and the summary."""
    create_table_artifact(
        key="stripe-gateway-metrics",
        table=report.metrics or [{"provider": "stripe", "calls": 0}],
        description="Gateway metrics of the Stripe calls (pages, failures by kind, retries, latency).",
    )
    create_markdown_artifact(key=SUMMARY_KEY, markdown=revenue_markdown(report))


def publish_revenue_failed(report: RevenueSyncReport) -> None:
    """Say in the run's summary why the sync stopped (nothing was written), with the Stripe calls' metrics."""
    create_table_artifact(
        key="stripe-gateway-metrics",
        table=report.metrics or [{"provider": "stripe", "calls": 0}],
        description="Gateway metrics of the Stripe calls (pages, failures by kind, retries, latency).",
    )
    # The message quotes Stripe's error text: shown as a code block, never as markdown.
    text = (report.error or "").replace("`", "'")
    create_markdown_artifact(
        key=SUMMARY_KEY,
        markdown=f"# Stripe revenue sync ({report.source})\n\nStopped:\n\n```text\n{text}\n```",
    )


def publish_revenue_skipped(reason: str) -> None:
    """Say in the run's summary that the sync did nothing, and why."""
    create_markdown_artifact(key=SUMMARY_KEY, markdown=f"# Stripe revenue sync\n\nSkipped: {reason}.")
