"""Enrichment against the local fake provider server, with faults; the flow's artifacts and rerun."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.models.crm import Company, Contact
from aicmo.settings import GatewaySettings, Settings, reset_settings
from aicmo.storage.db import transaction
from aicmo.storage.migrate import upgrade
from aicmo.tasks.crm.enrichment import due_contact_ids, enrich_batch
from aicmo.tasks.gateway import reset_guards
from aicmo.tasks.providers.registry import build_chains
from tests.crm.helpers import add_contacts

FAST = {
    "timeout_s": 0.5,
    "max_attempts": 2,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.02,
    "retry_after_cap_s": 1.0,
    "breaker_failure_threshold": 50,
    "breaker_reset_s": 0.3,
    "concurrency": 20,
}
PEOPLE = [
    {"email": "ada@acme-widgets.com", "city": "London"},
    {"email": "grace@contoso.com", "city": "Paris"},
    {"email": "dennis@gmail.com", "city": None},
    {"email": "linus@initech.com", "city": "Berlin"},
    {"email": "nobody@unknown-startup.dev", "city": "Atlantis"},
    {"email": "octocat@github.com", "city": "San Francisco"},
]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        for key, value in srv.settings_env().items():
            monkeypatch.setenv(key, value)
        for key, value in FAST.items():
            monkeypatch.setenv(f"AICMO_GATEWAY_{key.upper()}", str(value))
        reset_settings()
        reset_guards()
        yield srv
        reset_guards()
        reset_settings()


def _settings() -> Settings:
    return Settings(gateway=GatewaySettings(**FAST))  # type: ignore[arg-type]


def _by_email(engine: Engine) -> dict[str, Contact]:
    with transaction(engine) as session:
        return {c.email: c for c in session.scalars(select(Contact))}


def test_batch_writes_each_answer_with_source_and_time_and_keeps_failed_contacts_due(
    engine: Engine, server: FakeProviderServer
) -> None:
    ids = add_contacts(engine, PEOPLE)
    server.faults.fail("github.search", 503, times=None, when=lambda key: key == "grace@contoso.com")
    server.faults.malformed("openweather.weather", times=None, when=lambda key: key.lower() == "berlin")
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    report = enrich_batch(engine, sorted(ids.values()), chains=build_chains(_settings()), now=now)

    assert report.contacts == 6 and report.complete == 4 and report.left_for_next_run == 2
    assert report.outcomes["social_by_email"]["failed_http_5xx"] == 1
    assert report.outcomes["weather_by_city"]["failed_malformed"] == 1
    assert report.outcomes["weather_by_city"]["skipped_no_key"] == 1
    assert report.outcomes["weather_by_city"]["not_found"] == 1  # Atlantis
    people = _by_email(engine)
    ada = people["ada@acme-widgets.com"]
    assert ada.enriched_at == now
    assert ada.enrichment["company"]["source"] == "company_http" and ada.enrichment["company"]["found"]
    assert ada.enrichment["company"]["at"] == now.isoformat()
    assert ada.enrichment["social"]["found"] and ada.enrichment["social"]["source"] == "github"
    assert ada.enrichment["weather"]["value"]["city"] == "London"
    assert people["dennis@gmail.com"].enrichment["company"]["value"]["is_free_mail"] is True
    assert "weather" not in people["dennis@gmail.com"].enrichment
    grace = people["grace@contoso.com"]
    assert (
        grace.enriched_at is None
        and "social" not in grace.enrichment
        and grace.enrichment["company"]["found"]
    )
    assert people["linus@initech.com"].enriched_at is None
    assert people["nobody@unknown-startup.dev"].enrichment["weather"]["found"] is False
    with transaction(engine) as session:
        companies = {c.domain: c for c in session.scalars(select(Company))}
    assert "gmail.com" not in companies and companies["acme-widgets.com"].source == "company_http"
    assert ada.company_id == companies["acme-widgets.com"].id
    metrics = {row["provider"]: row for row in report.metrics_rows()}
    assert metrics["github"]["failures"] >= 2  # two attempts on the failing email
    assert set(due_contact_ids(engine, now=now)) == {ids["grace@contoso.com"], ids["linus@initech.com"]}


def test_failed_provider_never_blanks_an_earlier_answer(engine: Engine, server: FakeProviderServer) -> None:
    ids = add_contacts(engine, [{"email": "ada@acme-widgets.com", "city": "London"}])
    old = datetime(2026, 1, 1, tzinfo=UTC)
    earlier = {
        "social": {"source": "github", "found": True, "value": {"login": "ada-old"}, "at": old.isoformat()}
    }
    with transaction(engine) as session:
        contact = session.get(Contact, ids["ada@acme-widgets.com"])
        assert contact is not None
        contact.enrichment, contact.enriched_at = earlier, old
    server.faults.fail("github.search", 500, times=None)
    report = enrich_batch(engine, list(ids.values()), chains=build_chains(_settings()))
    assert report.left_for_next_run == 1
    ada = _by_email(engine)["ada@acme-widgets.com"]
    assert ada.enrichment["social"] == earlier["social"]
    assert ada.enriched_at == old and ada.enrichment["weather"]["found"]


def test_flow_reports_artifacts_and_a_rerun_only_retries_what_failed(
    server: FakeProviderServer, prefect_harness: None, aicmo_home: Path
) -> None:
    from prefect.client.orchestration import get_client

    from aicmo.flows.enrich import enrich_contacts
    from aicmo.wiring import engine as store

    engine = store()
    upgrade(engine)
    add_contacts(engine, PEOPLE)
    server.faults.fail("github.search", 503, times=None, when=lambda key: key == "grace@contoso.com")

    first = enrich_contacts(batch_size=4)
    assert first["selected"] == 6 and first["batches"] == 2
    assert first["complete"] == 5 and first["left_for_next_run"] == 1
    assert first["outcomes"]["social_by_email"]["failed_http_5xx"] == 1
    assert {row["provider"] for row in first["providers"]} >= {"github", "company_http", "openweather"}

    server.faults.clear()
    server.reset_stats()
    second = enrich_contacts(batch_size=4)
    assert second["selected"] == 1 and second["complete"] == 1
    assert server.request_count("company.find") == 0  # grace's company answer came from the cache
    third = enrich_contacts(batch_size=4)
    assert third["selected"] == 0 and third["batches"] == 0
    stale = enrich_contacts(batch_size=10, stale_after_days=0)
    assert stale["selected"] == 6

    async def artifact_keys() -> set[str]:
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts() if a.key}

    keys = asyncio.run(artifact_keys())
    assert {"enrich-outcomes", "enrich-gateway-metrics", "enrich-progress", "enrich-summary"} <= keys


def test_without_a_company_api_a_guessed_company_is_stored_as_inferred_and_enriched_for_real_later(
    engine: Engine, server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_contacts(engine, [{"email": "ada@acme-widgets.com", "city": None}])
    monkeypatch.delenv("AICMO_COMPANY_API_KEY")
    reset_settings()
    offline_only = build_chains(_settings())
    assert [p.name for p in offline_only["company_by_domain"].providers] == ["company_offline"]
    first = datetime(2026, 11, 20, 9, tzinfo=UTC)
    report = enrich_batch(engine, list(ids.values()), chains=offline_only, now=first)
    assert report.outcomes["company_by_domain"]["inferred"] == 1
    assert report.companies_upserted == 0
    ada = _by_email(engine)["ada@acme-widgets.com"]
    company = ada.enrichment["company"]
    # A guess, said to be one: not found by any provider, the guess kept with its source and confidence.
    assert company["found"] is False and company["value"] is None
    assert company["inferred"] == {"name": "Acme Widgets", "source": "company_offline", "confidence": "guess"}
    assert ada.company_id is None
    with transaction(engine) as session:
        assert session.scalars(select(Company)).all() == []
    # Fresh otherwise, but still due for a real company answer once a company API is configured.
    later = datetime(2026, 11, 21, 9, tzinfo=UTC)
    assert due_contact_ids(engine, now=later, company_api=False) == []
    assert due_contact_ids(engine, now=later, company_api=True) == [ids["ada@acme-widgets.com"]]

    monkeypatch.setenv("AICMO_COMPANY_API_KEY", server.credentials["company"])
    reset_settings()
    report = enrich_batch(engine, list(ids.values()), chains=build_chains(_settings()), now=later)
    assert report.outcomes["company_by_domain"]["found"] == 1  # asked for real, not the cached guess
    ada = _by_email(engine)["ada@acme-widgets.com"]
    assert ada.enrichment["company"]["source"] == "company_http" and ada.enrichment["company"]["found"]
    assert "inferred" not in ada.enrichment["company"] and ada.company_id is not None
    assert due_contact_ids(engine, now=later, company_api=True) == []
