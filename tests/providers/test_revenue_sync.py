"""The Stripe revenue sync: orders in the lake per contact, unknown emails counted, reruns idempotent."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from aicmo import wiring
from aicmo.errors import ConfigError
from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.settings import reset_settings
from aicmo.storage.crm import contact_ids_by_email, upsert_contacts
from aicmo.storage.db import transaction
from aicmo.storage.migrate import ensure_schema
from aicmo.tasks.crm.emails import normalize_email
from aicmo.tasks.providers.revenue import sync_stripe_orders
from aicmo.tasks.providers.stripe import major_units, payment_amount
from tests.provider_fixtures import settings_for

CONTACTS = [f"customer{i}@shop{i % 5}.com" for i in range(40)]
STRANGERS = ["stranger1@elsewhere.org", "stranger2@elsewhere.org"]
GUESTS = ["customer3@shop3.com", "guest@nowhere.org"]


def _expected(server: FakeProviderServer) -> tuple[dict[str, float], int]:
    """Revenue per contact email and the number of succeeded payments of non-contacts."""
    email_of = {c["id"]: c["email"] for c in server.stripe.customers}
    per_email: dict[str, float] = {}
    unmatched = 0
    for charge in server.stripe.charges:
        amount = payment_amount(charge)
        if amount is None:
            continue
        email = email_of.get(charge["customer"]) or charge["receipt_email"]
        if email in CONTACTS:
            per_email[email] = per_email.get(email, 0.0) + major_units(amount, charge["currency"])
        else:
            unmatched += 1
    return per_email, unmatched


def test_sync_writes_orders_per_contact_and_reports_unknown_emails(
    aicmo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeProviderServer(stripe_emails=CONTACTS + STRANGERS, stripe_guest_emails=GUESTS) as server:
        settings = settings_for(server, monkeypatch)
        engine = wiring.engine()
        ensure_schema(engine)
        with transaction(engine) as session:
            upsert_contacts(session, [{"email": e} for e in CONTACTS])
            ids = contact_ids_by_email(session, CONTACTS)
        report = sync_stripe_orders(engine, wiring.lake(), settings)
        expected, unmatched = _expected(server)

        orders = wiring.lake().scan("orders").collect()
        by_contact = orders.group_by("contact_id").agg(pl.col("amount").sum())
        got = {row[0]: round(row[1], 2) for row in by_contact.iter_rows()}
        assert got == {ids[e]: round(v, 2) for e, v in expected.items()}
        assert orders.get_column("source").unique().to_list() == ["stripe"]
        assert report.orders_written == orders.height
        assert report.unmatched_payments == unmatched > 0
        assert report.unknown_emails == len({"guest@nowhere.org", *STRANGERS} & _paying(server))
        assert report.customers == len(CONTACTS) + len(STRANGERS)
        assert report.metrics[0]["provider"] == "stripe" and report.metrics[0]["calls"] >= 2

        again = sync_stripe_orders(engine, wiring.lake(), settings)  # a rerun adds nothing twice
        assert wiring.lake().scan("orders").collect().height == orders.height
        assert again.orders_written == report.orders_written


def _paying(server: FakeProviderServer) -> set[str]:
    email_of = {c["id"]: c["email"] for c in server.stripe.customers}
    return {
        email_of.get(c["customer"]) or c["receipt_email"]
        for c in server.stripe.charges
        if payment_amount(c) is not None
    }


def test_flow_publishes_metrics_and_counts(
    aicmo_home: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    from aicmo.flows.revenue_sync import sync_stripe_revenue

    with FakeProviderServer(stripe_emails=CONTACTS[:10] + STRANGERS) as server:
        settings_for(server, monkeypatch)
        engine = wiring.engine()
        ensure_schema(engine)
        with transaction(engine) as session:
            upsert_contacts(session, [{"email": e} for e in CONTACTS[:10]])
        server.faults.fail("stripe.payment_intents", 503)  # retried inside the flow
        summary = sync_stripe_revenue(source="payment_intents")
    assert summary["source"] == "payment_intents"
    assert summary["orders_written"] == wiring.lake().scan("orders").collect().height > 0
    assert summary["customers"] == 12


def test_flow_without_stripe_is_skipped_not_failed(
    aicmo_home: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    from aicmo.flows.revenue_sync import sync_stripe_revenue

    monkeypatch.delenv("AICMO_STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("AICMO_PROVIDER_SECRET_BLOCKS", raising=False)
    reset_settings()
    summary = sync_stripe_revenue()
    assert summary == {
        "skipped": "Stripe is not configured: set AICMO_STRIPE_API_KEY (and AICMO_STRIPE_BASE_URL)"
    }
    with pytest.raises(ConfigError, match="AICMO_STRIPE_API_KEY"):
        sync_stripe_orders(wiring.engine(), wiring.lake())


def test_fake_stripe_seeded_from_the_store_matches_its_contacts(
    aicmo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = wiring.engine()
    ensure_schema(engine)
    with transaction(engine) as session:
        upsert_contacts(session, [{"email": e} for e in CONTACTS])
    with FakeProviderServer() as server:
        settings = settings_for(server, monkeypatch)
        seeded = server.seed_stripe_from_contacts(engine, limit=20, strangers=3)
        assert seeded["contacts"] == 20 and seeded["customers"] == 23
        report = sync_stripe_orders(engine, wiring.lake(), settings)
    paying = _paying(server)
    assert report.contacts_matched == len(paying & set(CONTACTS)) > 0
    assert report.unknown_emails == len(paying - set(CONTACTS))


def test_a_punycode_stripe_address_lands_on_its_contact(
    aicmo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CRM keeps the Unicode form of an IDN domain; Stripe hands back what the customer typed.
    stripe_address = "Joerg@xn--bcher-kva.de"
    contact_email = normalize_email(stripe_address)
    assert contact_email == "joerg@bücher.de"
    with FakeProviderServer(
        stripe_emails=[stripe_address, *STRANGERS], stripe_guest_emails=[stripe_address]
    ) as server:
        settings = settings_for(server, monkeypatch)
        engine = wiring.engine()
        ensure_schema(engine)
        with transaction(engine) as session:
            upsert_contacts(session, [{"email": contact_email}])
            contact_id = contact_ids_by_email(session, [contact_email])[contact_email]
        report = sync_stripe_orders(engine, wiring.lake(), settings)
        customer_ids = {c["id"] for c in server.stripe.customers if c["email"] == stripe_address}
        paid = sum(
            major_units(amount, c["currency"])
            for c in server.stripe.charges
            if (c["customer"] in customer_ids or c["receipt_email"] == stripe_address)
            and (amount := payment_amount(c)) is not None
        )
    orders = wiring.lake().scan("orders").collect()
    assert paid > 0
    assert report.contacts_matched == 1
    assert report.unknown_emails == len(set(STRANGERS) & _paying(server))
    mine = orders.filter(pl.col("contact_id") == contact_id)
    assert round(mine.get_column("amount").sum(), 2) == round(paid, 2)
