"""The revenue sync flow: Stripe's succeeded payments into the lake's ``orders``, per contact.

It only orchestrates: one task pages Stripe through the gateway and writes the orders; the flow
publishes the gateway's per-provider metrics as a table and a markdown summary that says how many
payments (and how much money) matched no contact, so nothing is dropped silently.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from aicmo import wiring
from aicmo.flows.run_log import logged_run
from aicmo.settings import get_settings
from aicmo.tasks.providers.revenue import (
    NOT_CONFIGURED,
    RevenueSyncReport,
    stripe_configured,
    sync_stripe_orders_task,
)


def _markdown(report: RevenueSyncReport) -> str:
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


@flow(name="sync-stripe-revenue")
def sync_stripe_revenue(source: str = "charges") -> dict[str, Any]:
    """Sync Stripe ``charges`` (or ``payment_intents``) into the lake's orders; returns the counts.

    The result holds ``customers``, ``payments_seen``, ``payments_succeeded``, ``orders_written``,
    ``contacts_matched``, ``unknown_emails``, ``unmatched_payments``, ``unmatched_amount``,
    ``payments_without_email``, ``days_written`` and ``revenue`` (per currency); without a Stripe
    key it does nothing and returns ``{"skipped": reason}``.
    """
    settings = get_settings()
    with logged_run("sync-stripe-revenue", {"source": source}) as stats:
        if not stripe_configured(settings):
            # The daily chain runs without Stripe too: say so instead of failing the whole run.
            create_markdown_artifact(
                key="stripe-revenue-summary", markdown=f"# Stripe revenue sync\n\nSkipped: {NOT_CONFIGURED}."
            )
            stats["skipped"] = NOT_CONFIGURED
            return {"skipped": NOT_CONFIGURED}
        report = sync_stripe_orders_task(settings.resolved_database_url, wiring.lake().root, source)
        create_table_artifact(
            key="stripe-gateway-metrics",
            table=report.metrics or [{"provider": "stripe", "calls": 0}],
            description="Gateway metrics of the Stripe calls (pages, failures by kind, retries, latency).",
        )
        create_markdown_artifact(key="stripe-revenue-summary", markdown=_markdown(report))
        summary = report.summary()
        stats.update(summary)
    return summary
