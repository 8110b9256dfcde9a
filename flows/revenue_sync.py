"""The revenue sync flow: Stripe's succeeded payments into the lake's ``orders``, per contact.

It only orchestrates: one task pages Stripe through the gateway and writes the orders; the flow
publishes the report (``tasks/providers/report.py``): the gateway's per-provider metrics and a
summary that says how many payments (and how much money) matched no contact, so nothing is
dropped silently. When Stripe is unavailable (a refused key, an outage after retries, pages that
stay broken) the run ends failed with one line saying what to check, carried by the flow's
state: no traceback is logged for an error the user can act on.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from aicmo import wiring
from aicmo.errors import ProviderUnavailable
from aicmo.flows.params import RevenueSource
from aicmo.flows.run_log import logged_run
from aicmo.flows.steps import ended_failed, skipped
from aicmo.settings import get_settings
from aicmo.tasks.providers.prefect_tasks import sync_stripe_orders_task
from aicmo.tasks.providers.report import publish_revenue_failed, publish_revenue_skipped, publish_revenue_sync
from aicmo.tasks.providers.revenue import NOT_CONFIGURED, stripe_configured

FLOW_NAME = "sync-stripe-revenue"


@flow(name=FLOW_NAME)
def sync_stripe_revenue(source: RevenueSource = "charges") -> dict[str, Any]:
    """Sync Stripe's succeeded payments into the lake's orders; returns the counts.

    The result holds ``customers``, ``payments_seen``, ``payments_succeeded``, ``orders_written``,
    ``contacts_matched``, ``unknown_emails``, ``unmatched_payments``, ``unmatched_amount``,
    ``payments_without_email``, ``days_written`` and ``revenue`` (per currency); without a Stripe
    key it does nothing and ends ``Skipped`` (its result ``{"skipped": reason}``). When Stripe is
    unavailable the run ends failed: calling the flow raises ``ProviderUnavailable`` with the
    one-line reason.

    Args:
        source: Which Stripe objects are the payments: charges, or payment_intents.
    """
    settings = get_settings()
    try:
        with logged_run(FLOW_NAME, {"source": source}) as stats:
            if not stripe_configured(settings):
                # The daily chain runs without Stripe too: say so instead of failing the whole run.
                publish_revenue_skipped(NOT_CONFIGURED)
                stats["skipped"] = NOT_CONFIGURED
                return skipped(NOT_CONFIGURED)
            report = sync_stripe_orders_task(settings.resolved_database_url, wiring.lake().root, source)
            if report.error is not None:
                publish_revenue_failed(report)
                raise ProviderUnavailable(report.error)  # the run log records the run failed
            publish_revenue_sync(report)
            summary = report.summary()
            stats.update(summary)
    except ProviderUnavailable as exc:
        # Ends the run failed with the message, without Prefect logging a traceback of a user error.
        return ended_failed(exc)
    return summary
