"""Revenue from Stripe into the lake's ``orders``: every succeeded payment, keyed by contact id.

Customers and their payments (charges or payment intents) are paged through the gateway (each
page with retries, breaker and rate limit). A payment belongs to the contact whose normalized
email matches its customer's email (or, for a guest payment, its receipt email). Payments whose
email is no contact's are counted and reported (how many, how much), never dropped silently;
nothing personal leaves this function. Orders are written per day partition with Stripe's version
of a row replacing the lake's (a refund changes the amount of an order already synced).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine

from aicmo.errors import ConfigError, ProviderUnavailable
from aicmo.models.lake import ORDERS
from aicmo.settings import Settings, get_settings
from aicmo.storage.crm import contact_ids_by_email
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.runs import record_partitions
from aicmo.tasks.crm.emails import InvalidEmailError, normalize_email
from aicmo.tasks.gateway import MetricsBook, ProviderError, make_client
from aicmo.tasks.providers.registry import credential, stripe_provider
from aicmo.tasks.providers.stripe import StripeProvider, major_units, payment_amount, payment_email

SOURCES = ("charges", "payment_intents")
NOT_CONFIGURED = "Stripe is not configured: set AICMO_STRIPE_API_KEY (and AICMO_STRIPE_BASE_URL)"


def stripe_configured(settings: Settings | None = None) -> bool:
    """Whether a Stripe key is available (settings, or a Prefect Secret block when enabled)."""
    return credential(settings or get_settings(), "stripe_api_key") is not None


@dataclass
class RevenueSyncReport:
    """Counts of one sync (no personal data) and the gateway's metrics of the Stripe calls."""

    source: str = "charges"
    customers: int = 0
    payments_seen: int = 0
    payments_succeeded: int = 0
    orders_written: int = 0
    contacts_matched: int = 0
    unknown_emails: int = 0
    unmatched_payments: int = 0
    unmatched_amount: dict[str, float] = field(default_factory=dict)
    payments_without_email: int = 0
    days_written: int = 0
    revenue: dict[str, float] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # why the sync stopped before writing anything (Stripe unavailable)

    def summary(self) -> dict[str, Any]:
        """The counts as a plain dict (the flow's return value and run-log stats)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("metrics", "error")}


def sync_or_report_why_not(
    engine: Engine, lake: Lake, settings: Settings | None = None, *, source: str = "charges"
) -> RevenueSyncReport:
    """:func:`sync_stripe_orders`, with Stripe being unavailable reported in ``error`` instead of raised.

    Nothing is written when Stripe is unavailable. The flow turns the error into a failed run with
    that one-line message; raised through Prefect's task engine it would be logged with a traceback.
    """
    try:
        with _one_message_for_a_refused_key():
            return sync_stripe_orders(engine, lake, settings, source=source)
    except ProviderUnavailable as exc:
        return RevenueSyncReport(source=source, error=str(exc))


class _StripeDisabledNotice(logging.Filter):
    """Drops the gateway's 'provider stripe disabled for the rest of the run' warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (str(record.msg).startswith("provider %s disabled") and args[:1] == ("stripe",))


@contextmanager
def _one_message_for_a_refused_key() -> Iterator[None]:
    """While the sync runs, a refused Stripe key is reported once: by the sync's own error.

    The gateway warns that a provider whose key was refused is disabled for the rest of the run,
    which matters to a batch that goes on without it; the sync stops instead, and its error
    already names the refusal and the setting to fix.
    """
    gateway_log = logging.getLogger("aicmo.gateway")
    notice = _StripeDisabledNotice()
    gateway_log.addFilter(notice)
    try:
        yield
    finally:
        gateway_log.removeFilter(notice)


def payment_contact_email(email: str | None) -> str | None:
    """The contact store's form of a Stripe email (the CRM's ``normalize_email``), None when empty.

    An address the CRM would reject is kept as Stripe gave it (trimmed): it matches no contact and
    is counted as an unknown email, not lost.
    """
    if not email or not email.strip():
        return None
    try:
        return normalize_email(email)
    except InvalidEmailError:
        return email.strip()


async def fetch_stripe(
    stripe: StripeProvider, source: str, book: MetricsBook
) -> tuple[dict[str, str | None], list[dict[str, Any]]]:
    """Every customer's email by id, and every payment of ``source``, paged through the gateway."""
    if source not in SOURCES:
        raise ConfigError(f"unknown Stripe revenue source {source!r}; use one of {SOURCES}")
    metrics = book[stripe.name]
    async with make_client(stripe.settings) as client:
        customers = {str(c["id"]): c.get("email") async for c in stripe.iterate(client, "customers", metrics)}
        payments = [p async for p in stripe.iterate(client, source, metrics)]
    return customers, payments


def payments_to_orders(
    customers: dict[str, str | None], payments: list[dict[str, Any]], report: RevenueSyncReport
) -> pl.DataFrame:
    """Succeeded payments as order rows with a normalized ``email`` column (contact id still to fill)."""
    rows = []
    for payment in payments:
        report.payments_seen += 1
        amount = payment_amount(payment)
        if amount is None:
            continue
        report.payments_succeeded += 1
        customer = payment.get("customer")
        email = payment_contact_email(customers.get(str(customer)) if customer else None)
        email = email or payment_contact_email(payment_email(payment))
        currency = str(payment["currency"]).lower()
        value = major_units(amount, currency)
        if email is None:
            report.payments_without_email += 1
            report.unmatched_amount[currency] = round(report.unmatched_amount.get(currency, 0.0) + value, 2)
            continue
        rows.append(
            {
                "order_id": str(payment["id"]),
                "email": email,
                "ts": datetime.fromtimestamp(int(payment["created"]), UTC),
                "amount": value,
                "currency": currency.upper(),
                "source": "stripe",
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "order_id": pl.String,
            "email": pl.String,
            "ts": ORDERS["ts"],
            "amount": pl.Float64,
            "currency": pl.String,
            "source": pl.String,
        },
    )


def write_orders(lake: Lake, orders: pl.DataFrame) -> dict[Any, int]:
    """Write orders per day; Stripe's row replaces the lake's row with the same ``order_id``."""
    written = {}
    day = pl.col("ts").dt.date().alias("__dt")
    for (dt,), part in orders.with_columns(day).partition_by("__dt", as_dict=True, include_key=False).items():
        if dt in lake.partitions("orders"):
            part = pl.concat([part, lake.read_partition("orders", dt)], how="vertical")
        written[dt] = lake.write_partition("orders", dt, part, mode="overwrite")
    return written


def sync_stripe_orders(
    engine: Engine, lake: Lake, settings: Settings | None = None, *, source: str = "charges"
) -> RevenueSyncReport:
    """Bring every succeeded Stripe payment into the lake's ``orders``; returns the counts."""
    settings = settings or get_settings()
    stripe = stripe_provider(settings)
    if stripe is None:
        raise ConfigError(NOT_CONFIGURED)
    book = MetricsBook()
    report = RevenueSyncReport(source=source)
    try:
        customers, payments = asyncio.run(fetch_stripe(stripe, source, book))
    except ProviderError as exc:
        hint = (
            "check AICMO_STRIPE_API_KEY" if exc.kind == "auth" else "nothing was written; run it again later"
        )
        raise ProviderUnavailable(f"Stripe revenue sync stopped: {exc} ({hint})") from None
    report.metrics = book.table()
    report.customers = len(customers)
    orders = payments_to_orders(customers, payments, report)

    emails = orders.get_column("email").unique().to_list()
    with transaction(engine) as session:
        ids = contact_ids_by_email(session, emails)
    report.contacts_matched = len(ids)
    report.unknown_emails = len(emails) - len(ids)
    mapping = pl.DataFrame(
        {"email": list(ids), "contact_id": list(ids.values())},
        schema={"email": pl.String, "contact_id": pl.Int64},
    )
    joined = orders.join(mapping, on="email", how="left")
    unmatched = joined.filter(pl.col("contact_id").is_null())
    report.unmatched_payments = unmatched.height + report.payments_without_email
    for currency, amount in unmatched.group_by("currency").agg(pl.col("amount").sum()).iter_rows():
        key = str(currency).lower()
        report.unmatched_amount[key] = round(report.unmatched_amount.get(key, 0.0) + float(amount), 2)
    matched = joined.filter(pl.col("contact_id").is_not_null()).select(ORDERS.names())
    for currency, amount in matched.group_by("currency").agg(pl.col("amount").sum()).iter_rows():
        report.revenue[str(currency).lower()] = round(float(amount), 2)

    written = write_orders(lake, matched) if matched.height else {}
    if written:
        with transaction(engine) as session:
            record_partitions(session, "orders", written)
    report.orders_written = matched.height
    report.days_written = len(written)
    return report
