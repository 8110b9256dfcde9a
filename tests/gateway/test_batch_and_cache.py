"""enrich_many over real sockets: the SQL cache on rerun, secrets kept out of logs, a 10k faulty batch."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from aicmo.fakes.faults import RandomFaults
from aicmo.fakes.provider_server import CREDENTIALS, FakeProviderServer
from aicmo.models.gateway import ProviderCacheEntry
from aicmo.settings import Settings
from aicmo.storage.db import make_engine, transaction
from aicmo.tasks.gateway import Answer, ProviderChain, TransportName, enrich_many, make_client
from aicmo.tasks.providers.company import CompanyHttpProvider
from aicmo.tasks.providers.registry import build_chains
from tests.provider_fixtures import settings_for

DOMAINS = [f"company-{i}.com" for i in range(300)] + ["stripe.com", "gmail.com", "Stripe.com"]


async def test_rerun_is_answered_from_the_cache_without_http(
    server: FakeProviderServer, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # about caching, not timeouts: a loaded machine must not turn slow answers into failovers
    settings = settings_for(server, monkeypatch, timeout_s=30.0)
    chain = build_chains(settings)["company_by_domain"]
    first = await enrich_many(chain, DOMAINS, cache_engine=engine)
    assert all(o.ok and o.found for o in first.outcomes)
    assert first.outcomes[-1].key == "Stripe.com" and first.outcomes[-1].value == first.outcomes[-3].value
    sent = server.request_count()
    assert sent == len({d.lower() for d in DOMAINS})  # one request per distinct domain
    assert first.cache_hits == 0

    second = await enrich_many(build_chains(settings)["company_by_domain"], DOMAINS, cache_engine=engine)
    assert server.request_count() == sent  # zero HTTP calls on the rerun
    assert second.cache_hits == len({d.lower() for d in DOMAINS})
    assert all(o.from_cache for o in second.outcomes)
    assert [o.value for o in second.outcomes] == [o.value for o in first.outcomes]
    assert [o.provider for o in second.outcomes] == [o.provider for o in first.outcomes]


async def test_not_found_is_cached_shorter_and_failures_not_at_all(
    settings: Settings, server: FakeProviderServer, engine: Engine
) -> None:
    chain = build_chains(settings)["weather_by_city"]
    server.faults.fail("openweather.weather", 400, when=lambda city: city.lower() == "rome")
    result = await enrich_many(chain, ["Paris", "Atlantis", "Rome"], cache_engine=engine)
    assert [(o.ok, o.found) for o in result.outcomes] == [(True, True), (True, False), (False, False)]
    with transaction(engine) as session:
        rows = {r.key: r for r in session.scalars(select(ProviderCacheEntry))}
    assert set(rows) == {"paris", "atlantis"}  # the failed item is not cached
    positive = rows["paris"].expires_at - rows["paris"].fetched_at
    negative = rows["atlantis"].expires_at - rows["atlantis"].fetched_at
    assert positive == timedelta(seconds=chain.cache_ttl_s)
    assert negative == timedelta(seconds=chain.negative_ttl_s) and negative < positive

    again = await enrich_many(
        build_chains(settings)["weather_by_city"], ["Paris", "Atlantis", "Rome"], cache_engine=engine
    )
    assert [o.from_cache for o in again.outcomes] == [True, True, False]
    assert again.outcomes[2].ok and again.outcomes[2].found  # asked again, and the fault is gone


@pytest.mark.parametrize("transport", ["aiohttp", "httpx-aiohttp"])
async def test_no_secret_in_any_log_line_or_error(
    server: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    transport: TransportName,
) -> None:
    fast = settings_for(server, monkeypatch)
    wrong_stripe = "sk_test_wrong_key_DEADBEEF4242"  # the fake Stripe echoes a refused key back
    monkeypatch.setenv("AICMO_STRIPE_API_KEY", wrong_stripe)
    settings = Settings(gateway=fast.gateway)
    secrets = [*CREDENTIALS.values(), wrong_stripe]
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "aicmo.gateway"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    server.faults.fail("openweather.weather", 500, times=2).slow("openweather.weather", 1.0)
    server.faults.reset("github.search").malformed("company.find")
    chains = build_chains(settings)
    errors: list[str] = []
    async with make_client(settings.gateway, transport=transport) as client:
        for capability, keys in {
            "weather_by_city": ["Paris", "Berlin", "Atlantis"],
            "social_by_email": ["ada@acme-widgets.com"],
            "company_by_domain": ["stripe.com"],
            "revenue_by_email": ["ada@acme-widgets.com", "grace@contoso.com"],
        }.items():
            result = await enrich_many(chains[capability], keys, client=client)
            errors += [o.error or "" for o in result.outcomes]
    assert any("Invalid API Key provided: ***" in e for e in errors)  # the echoed key was masked
    if transport == "httpx-aiohttp":  # httpx logs each request line, URL (and OpenWeather key) included
        assert any(r.name == "httpx" and "appid=***" in r.getMessage() for r in caplog.records)
    texts = [r.getMessage() for r in caplog.records] + [caplog.text] + errors
    texts += [repr(p) for chain in chains.values() for p in chain.providers]
    for secret in secrets:
        assert not any(secret in text for text in texts), "a credential leaked into a log line or error"
    for name in ("httpx", "httpcore", "aicmo.gateway"):
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_10k_batch_with_5_percent_faults_answers_or_explains_every_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faults = RandomFaults(p_5xx=0.02, p_429=0.01, p_reset=0.01, p_malformed=0.01, retry_after="0", seed=11)
    with FakeProviderServer(random_faults=faults) as server:
        settings = settings_for(
            server, monkeypatch, breaker_failure_threshold=20, max_attempts=2, timeout_s=2.0
        )
        provider = CompanyHttpProvider(
            server.base_url, server.credentials["company"], settings=settings.gateway
        )
        chain = ProviderChain("company_by_domain", [provider], settings=settings.gateway)
        keys = [f"shop-{i}.example.com" for i in range(10_000)]
        result = await enrich_many(chain, keys, concurrency=64)
        sent = server.request_count("company.find")
    assert len(result.outcomes) == 10_000
    assert [o.key for o in result.outcomes] == keys
    answered = [o for o in result.outcomes if o.ok]
    failed = [o for o in result.outcomes if not o.ok]
    assert all(o.error and o.error_kind and o.error.startswith("company_http:") for o in failed)
    assert len(answered) + len(failed) == 10_000
    assert len(answered) >= 9_500  # retries recover most 5xx/429/resets; malformed fails over (no retry)
    assert {o.error_kind for o in failed} <= {
        "malformed",
        "http_5xx",
        "rate_limited",
        "connection",
        "timeout",
    }
    assert sent > 10_000  # faults were injected and retried
    metrics = result.metrics["company_http"]
    assert metrics.calls == sent
    assert metrics.failures["malformed"] > 0 and metrics.retries > 0
    assert result.summary()["items"] == 10_000


async def test_an_unusable_cache_costs_reuse_not_answers(
    settings: Settings, server: FakeProviderServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")  # no provider_cache table
    chain = build_chains(settings)["weather_by_city"]
    with caplog.at_level(logging.WARNING, logger="aicmo.gateway"):
        result = await enrich_many(chain, ["Paris", "Rome"], cache_engine=broken)
    assert [o.found for o in result.outcomes] == [True, True]
    messages = [r.getMessage() for r in caplog.records]
    assert any("provider cache unreadable" in m for m in messages)
    assert any("2 answer(s) not cached" in m for m in messages)
    broken.dispose()


def test_credentials_can_come_from_prefect_secret_blocks(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    from prefect.blocks.system import Secret

    fast = settings_for(server, monkeypatch)
    monkeypatch.delenv("AICMO_GITHUB_TOKEN")
    assert not build_chains(Settings(gateway=fast.gateway))["social_by_email"].providers
    Secret(value=server.credentials["github"]).save("aicmo-github-token", overwrite=True)
    monkeypatch.setenv("AICMO_PROVIDER_SECRET_BLOCKS", "1")
    chain = build_chains(Settings(gateway=fast.gateway))["social_by_email"]
    assert [p.name for p in chain.providers] == ["github"]

    async def ask() -> bool:
        async with make_client(fast.gateway) as client:
            return (await chain.call("ada@acme-widgets.com", client)).found

    assert asyncio.run(ask())


async def test_an_adapter_bug_costs_one_item_not_the_batch(
    settings: Settings, server: FakeProviderServer
) -> None:
    class BuggyCompany(CompanyHttpProvider):
        name = "company_buggy"

        async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
            if key == "boom.com":
                raise RuntimeError(f"adapter bug with key {server.credentials['company']}")
            return await super().fetch(key, client)

    provider = BuggyCompany(server.base_url, server.credentials["company"], settings=settings.gateway)
    chain = ProviderChain("company_by_domain", [provider], settings=settings.gateway)
    result = await enrich_many(chain, ["stripe.com", "boom.com", "shopify.com"])
    assert [o.ok for o in result.outcomes] == [True, False, True]
    broken = result.outcomes[1]
    assert broken.error_kind == "internal"
    assert broken.error is not None
    assert broken.error.startswith("company_buggy: internal: adapter error (RuntimeError: adapter bug")
    assert server.credentials["company"] not in broken.error
