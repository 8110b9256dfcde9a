"""Contact enrichment through the provider gateway, one batch of contacts at a time.

Each contact is asked three questions through the gateway's chains: its company (by email
domain), its social profile (by email) and the weather where it lives (by city, when a city is
known). Every answer, found or an honest 'not found', is written into ``contacts.enrichment``
under its capability with the provider that gave it and the time; found companies also become
``companies`` rows linked from the contact. A contact whose every applicable question was
answered gets ``enriched_at = now``; if any provider failed, the answers that did arrive are
kept, the failed capability keeps what it had before (never blanked) and ``enriched_at`` is left
alone, so the next run picks the contact up again (the gateway's cache makes the repeat cheap).

A company name guessed from the domain (the offline provider's ``confidence: "guess"``) is no
provider's answer: it is stored as ``inferred`` (name, source, confidence) beside ``found: false``,
makes no ``companies`` row, and, when no company API was there to ask, marks the contact
``awaiting_provider`` so that a run with a company API configured asks it for real, past the
cached guess.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from aicmo import wiring
from aicmo.models.base import utcnow
from aicmo.settings import Settings, get_settings
from aicmo.storage import crm as store
from aicmo.storage.db import transaction
from aicmo.tasks.crm.emails import email_domain
from aicmo.tasks.gateway import (
    Outcome,
    ProviderChain,
    ProviderMetrics,
    enrich_many,
    make_client,
)

# capability in the gateway -> section of contacts.enrichment
SECTIONS = {"company_by_domain": "company", "social_by_email": "social", "weather_by_city": "weather"}
COMPANY = "company_by_domain"
GUESSING_PROVIDER = "company_offline"  # answers every domain from the domain alone


@dataclass
class EnrichmentReport:
    """Counts of one or more enrichment batches (no personal data), plus the gateway's metrics."""

    contacts: int = 0
    complete: int = 0
    left_for_next_run: int = 0
    companies_upserted: int = 0
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    metrics: dict[str, ProviderMetrics] = field(default_factory=dict)

    def count(self, capability: str, outcome: str, n: int = 1) -> None:
        """Add ``n`` to an outcome of a capability."""
        self.outcomes.setdefault(capability, Counter())[outcome] += n

    def merge(self, other: EnrichmentReport) -> None:
        """Add another batch's counts and metrics into this report."""
        self.contacts += other.contacts
        self.complete += other.complete
        self.left_for_next_run += other.left_for_next_run
        self.companies_upserted += other.companies_upserted
        for capability, counts in other.outcomes.items():
            self.outcomes.setdefault(capability, Counter()).update(counts)
        for name, metrics in other.metrics.items():
            if name in self.metrics:
                self.metrics[name].merge(metrics)
            else:
                mine = ProviderMetrics(name)
                mine.merge(metrics)
                self.metrics[name] = mine

    def outcome_rows(self) -> list[dict[str, Any]]:
        """One row per capability and outcome (for a Prefect table artifact)."""
        return [
            {"capability": cap, "outcome": outcome, "contacts": n}
            for cap, counts in sorted(self.outcomes.items())
            for outcome, n in sorted(counts.items())
        ]

    def metrics_rows(self) -> list[dict[str, Any]]:
        """The gateway's per-provider metrics table."""
        return [m.as_row() for _, m in sorted(self.metrics.items())]


def due_contact_ids(
    engine: Engine,
    *,
    stale_after_days: int | None = None,
    now: datetime | None = None,
    company_api: bool | None = None,
) -> list[int]:
    """Contacts never enriched, or enriched longer ago than the TTL (default from settings), by id.

    When a company API is configured (``company_api``; default: asked of the settings), contacts
    whose company was only guessed without one are due too.
    """
    settings = get_settings()
    days = stale_after_days if stale_after_days is not None else settings.enrichment_ttl_days
    cutoff = (now or utcnow()) - timedelta(days=days)
    if company_api is None:
        company_api = asks_a_company_api(wiring.chains(settings)[COMPANY])
    return store.contacts_due_for_enrichment(engine, cutoff, awaiting_company=company_api)


def asks_a_company_api(chain: ProviderChain) -> bool:
    """Whether the company chain has a provider that knows companies, not only the domain guesser."""
    return any(p.name != GUESSING_PROVIDER for p in chain.providers)


def is_guess(outcome: Outcome) -> bool:
    """Whether an answer is a guess from the key alone (a name made from a domain), not a provider's data."""
    return outcome.found and (outcome.value or {}).get("confidence") == "guess"


def lookup_domain(email: str) -> str:
    """The ASCII (IDNA) form of an email's domain, the form company APIs expect."""
    domain = email_domain(email)
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _entry(outcome: Outcome, now: datetime, *, no_company_api: bool = False) -> dict[str, Any]:
    entry = {
        "source": outcome.provider,
        "found": outcome.found,
        "value": outcome.value if outcome.found else None,
        "at": now.isoformat(),
        "from_cache": outcome.from_cache,
    }
    if is_guess(outcome):
        guess = outcome.value or {}
        entry |= {"found": False, "value": None}
        entry["inferred"] = {
            "name": guess.get("name"),
            "source": outcome.provider,
            "confidence": guess.get("confidence"),
        }
        if no_company_api:
            entry["awaiting_provider"] = True
    return entry


def _classify(outcome: Outcome) -> str:
    if is_guess(outcome):
        return "inferred"
    if outcome.ok:
        return "found" if outcome.found else "not_found"
    if outcome.error_kind == "not_configured":
        return "skipped_not_configured"
    return f"failed_{outcome.error_kind or 'unknown'}"


def _company_rows(found: dict[str, Outcome], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for domain, outcome in found.items():
        value = outcome.value or {}
        if value.get("is_free_mail") or not value.get("name") or is_guess(outcome):
            continue
        employees = value.get("employees")
        rows.append(
            {
                "domain": domain,
                "name": str(value["name"])[:255],
                "industry": value.get("industry"),
                "employees": employees if isinstance(employees, int) else None,
                "country": value.get("country"),
                "is_free_mail": False,
                "source": outcome.provider,
                "enriched_at": now,
                "created_at": now,
            }
        )
    return rows


async def enrich_batch_async(
    engine: Engine,
    contact_ids: Sequence[int],
    chains: dict[str, ProviderChain],
    *,
    now: datetime | None = None,
    cache: bool = True,
) -> EnrichmentReport:
    """Enrich one batch of contacts through ``chains`` and write the answers back in one transaction."""
    now = now or utcnow()
    report = EnrichmentReport()
    contacts = store.enrichment_inputs(engine, contact_ids)
    report.contacts = len(contacts)
    if not contacts:
        return report
    keys: dict[str, list[str | None]] = {
        "company_by_domain": [lookup_domain(email) for _, email, _, _ in contacts],
        "social_by_email": [email for _, email, _, _ in contacts],
        "weather_by_city": [city.strip() if city and city.strip() else None for _, _, city, _ in contacts],
    }
    settings = next(iter(chains.values())).settings
    results: dict[str, dict[str, Outcome]] = {}
    async with make_client(settings) as client:

        async def run(capability: str) -> None:
            wanted = [k for k in dict.fromkeys(keys[capability]) if k]
            batch = await enrich_many(
                chains[capability], wanted, cache_engine=engine if cache else None, client=client
            )
            results[capability] = {o.key: o for o in batch.outcomes}
            report.count(capability, "cache_hits", batch.cache_hits)
            for name, metrics in batch.metrics.items():
                report.merge(EnrichmentReport(metrics={name: metrics}))

        await asyncio.gather(*(run(c) for c in SECTIONS))
        if COMPANY in results and asks_a_company_api(chains[COMPANY]):
            await _ask_past_cached_guesses(chains[COMPANY], results[COMPANY], client)

    updates: list[dict[str, Any]] = []
    company_by_contact: dict[int, str] = {}
    found_companies: dict[str, Outcome] = {}
    for index, (cid, _email, _city, enrichment) in enumerate(contacts):
        complete = True
        for capability, section in SECTIONS.items():
            key = keys[capability][index]
            if key is None:
                report.count(capability, "skipped_no_key")
                continue
            outcome = results[capability][key]
            kind = _classify(outcome)
            report.count(capability, kind)
            if kind == "skipped_not_configured":
                continue
            if not outcome.ok:
                complete = False  # keep the previous answer of this capability, if any
                continue
            no_api = capability == COMPANY and not asks_a_company_api(chains[COMPANY])
            enrichment[section] = _entry(outcome, now, no_company_api=no_api)
            if capability == COMPANY and outcome.found and not is_guess(outcome):
                found_companies[key] = outcome
                company_by_contact[cid] = key
        row: dict[str, Any] = {"id": cid, "enrichment": enrichment}
        if complete:
            row["enriched_at"] = now
            report.complete += 1
        else:
            report.left_for_next_run += 1
        updates.append(row)

    company_rows = _company_rows(found_companies, now)
    update_cols = ["name", "industry", "employees", "country", "is_free_mail", "source", "enriched_at"]
    with transaction(engine) as session:
        company_ids = store.upsert_companies(session, company_rows, update_cols)
        report.companies_upserted = len(company_rows)
        for row in updates:
            domain = company_by_contact.get(row["id"])
            if domain in company_ids:
                row["company_id"] = company_ids[domain]
        store.update_contacts_by_id(session, updates)
    return report


async def _ask_past_cached_guesses(
    chain: ProviderChain, outcomes: dict[str, Outcome], client: httpx.AsyncClient
) -> None:
    """Ask the company chain again, without the cache, for domains whose cached answer is a guess.

    A guess cached while no company API was configured would otherwise stand in for the API's
    answer until it expired.
    """
    stale = [key for key, o in outcomes.items() if o.from_cache and is_guess(o)]
    if stale:
        fresh = await enrich_many(chain, stale, client=client)
        outcomes.update((o.key, o) for o in fresh.outcomes)


def enrich_batch(
    engine: Engine,
    contact_ids: Sequence[int],
    *,
    settings: Settings | None = None,
    chains: dict[str, ProviderChain] | None = None,
    now: datetime | None = None,
) -> EnrichmentReport:
    """Synchronous entry point of :func:`enrich_batch_async` (chains built from settings by default)."""
    chains = chains or wiring.chains(settings)
    return asyncio.run(enrich_batch_async(engine, contact_ids, chains, now=now))
