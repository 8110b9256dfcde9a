"""The chain against the fake server over real sockets: failover, retries, Retry-After, breaker, auth."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.settings import Settings
from aicmo.tasks.gateway import ProviderChain, TransportName, enrich_many, make_client
from aicmo.tasks.providers.company import CompanyHttpProvider
from aicmo.tasks.providers.offline_company import OfflineCompanyProvider
from aicmo.tasks.providers.registry import build_chains
from tests.provider_fixtures import settings_for


class BackupCompanyProvider(CompanyHttpProvider):
    """A second Clearbit-style provider (another server), to see the order of failover."""

    name = "company_backup"


def company_chain(settings: Settings) -> ProviderChain:
    return build_chains(settings)["company_by_domain"]


@pytest.fixture
def long_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every ``asyncio.sleep`` of half a second or more the client asks for, in order (it still sleeps).

    Tests read what the gateway decided to wait, not the wall clock, which a loaded machine stretches.
    """
    waits: list[float] = []
    sleep = asyncio.sleep

    async def recording_sleep(delay: float, result: object = None) -> object:
        if delay >= 0.5:
            waits.append(delay)
        return await sleep(delay, result)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    return waits


async def test_primary_answers_when_healthy(settings: Settings, server: FakeProviderServer) -> None:
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("Stripe.com ", client)
    assert outcome.ok and outcome.found
    assert outcome.provider == "company_http"
    assert outcome.value is not None and outcome.value["name"] == "Stripe"
    assert outcome.attempts == 1
    assert server.request_count("company.find") == 1


async def test_fails_over_in_order_and_reports_who_answered(
    settings: Settings, server: FakeProviderServer
) -> None:
    gw = settings.gateway
    with FakeProviderServer() as backup_server:
        chain = ProviderChain(
            "company_by_domain",
            [
                CompanyHttpProvider(server.base_url, server.credentials["company"], settings=gw),
                BackupCompanyProvider(
                    backup_server.base_url, backup_server.credentials["company"], settings=gw
                ),
                OfflineCompanyProvider(settings=gw),
            ],
            settings=gw,
        )
        server.faults.fail("company.find", 503, times=None)
        async with make_client(gw) as client:
            outcome = await chain.call("stripe.com", client)
        assert outcome.ok and outcome.found
        assert outcome.provider == "company_backup"
        assert outcome.tried == ["company_http", "company_backup"]
        assert outcome.attempts == gw.max_attempts + 1
        assert server.request_count("company.find") == gw.max_attempts  # 5xx is retried, then fail over
        assert backup_server.request_count("company.find") == 1
        assert outcome.error is not None and "company_http: http_5xx" in outcome.error

        backup_server.faults.fail("company.find", 500, times=None)
        async with make_client(gw) as client:
            last = await chain.call("stripe.com", client)
        assert last.provider == "company_offline"
        assert last.tried == ["company_http", "company_backup", "company_offline"]
        assert chain.metrics["company_http"].failovers == 2


async def test_not_found_fails_over_to_a_provider_that_knows(settings: Settings) -> None:
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("gmail.com", client)
    assert outcome.ok and outcome.found
    assert outcome.provider == "company_offline"
    assert outcome.value == {
        "domain": "gmail.com",
        "name": None,
        "is_free_mail": True,
        "source": "company_offline",
    }


async def test_every_provider_not_found_is_an_answer(settings: Settings) -> None:
    async with make_client(settings.gateway) as client:
        outcome = await build_chains(settings)["weather_by_city"].call("Atlantis", client)
    assert outcome.ok and not outcome.found
    assert outcome.error_kind == "not_found"
    assert outcome.provider == "openweather"


async def test_5xx_and_reset_mid_body_are_retried(settings: Settings, server: FakeProviderServer) -> None:
    server.faults.fail("company.find", 502).reset("company.find")
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("stripe.com", client)
    assert outcome.provider == "company_http"
    assert outcome.attempts == 3
    assert server.request_count("company.find") == 3


async def test_timeout_is_retried(settings: Settings, server: FakeProviderServer) -> None:
    server.faults.slow("openweather.weather", delay_s=1.0)
    async with make_client(settings.gateway) as client:
        outcome = await build_chains(settings)["weather_by_city"].call("Paris", client)
    assert outcome.ok and outcome.found and outcome.attempts == 2
    assert outcome.value is not None and outcome.value["city"] == "Paris"
    assert server.request_count("openweather.weather") == 2


async def test_other_4xx_is_not_retried(settings: Settings, server: FakeProviderServer) -> None:
    server.faults.fail("company.find", 400)
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("stripe.com", client)
    assert server.request_count("company.find") == 1
    assert outcome.provider == "company_offline"
    assert outcome.error is not None and "company_http: client_error: HTTP 400" in outcome.error


async def test_retry_after_seconds_is_honoured(
    settings: Settings, server: FakeProviderServer, long_waits: list[float]
) -> None:
    server.faults.rate_limit("company.find", retry_after="1")
    started = time.perf_counter()
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("stripe.com", client)
    elapsed = time.perf_counter() - started
    assert outcome.provider == "company_http" and outcome.attempts == 2
    assert elapsed >= 1.0
    assert long_waits == [pytest.approx(1.0, abs=0.01)]  # one wait, the Retry-After's, no backoff on top


async def test_retry_after_http_date_is_honoured(
    settings: Settings, server: FakeProviderServer, long_waits: list[float]
) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    server.faults.rate_limit("company.find", retry_after=format_datetime(when, usegmt=True))
    started = time.perf_counter()
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("stripe.com", client)
    elapsed = time.perf_counter() - started
    assert outcome.provider == "company_http"
    assert elapsed >= 1.0
    # one wait, until the date (second resolution), not a backoff guess (which is at most 0.05 s here)
    assert len(long_waits) == 1 and long_waits[0] <= 2.0


async def test_retry_after_past_the_cap_fails_over_at_once(
    settings: Settings, server: FakeProviderServer, long_waits: list[float]
) -> None:
    server.faults.rate_limit("company.find", retry_after="60")
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("stripe.com", client)
    assert long_waits == []  # no sleep at all before the failover
    assert outcome.provider == "company_offline"
    assert server.request_count("company.find") == 1
    assert outcome.error is not None and "company_http: rate_limited" in outcome.error


async def test_malformed_json_fails_over_and_names_the_provider(
    settings: Settings, server: FakeProviderServer
) -> None:
    server.faults.malformed("company.find")
    async with make_client(settings.gateway) as client:
        outcome = await company_chain(settings).call("stripe.com", client)
    assert server.request_count("company.find") == 1  # not retried
    assert outcome.provider == "company_offline"
    assert outcome.error is not None and outcome.error.startswith("company_http: malformed: invalid JSON")

    server.faults.wrong_content_type("openweather.weather")
    async with make_client(settings.gateway) as client:
        weather = await build_chains(settings)["weather_by_city"].call("Paris", client)
    assert not weather.ok
    assert weather.error_kind == "malformed"
    assert weather.error is not None and weather.error.startswith("openweather: malformed:")
    assert "text/html" in weather.error


async def test_auth_failure_disables_the_provider_once(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fast = settings_for(server, monkeypatch)
    monkeypatch.setenv("AICMO_COMPANY_API_KEY", "sk_wrong_company_key_0000")
    settings = Settings(gateway=fast.gateway)
    chain = company_chain(settings)
    caplog.set_level(logging.WARNING, logger="aicmo.gateway")
    async with make_client(settings.gateway) as client:
        outcomes = [await chain.call(d, client) for d in ("stripe.com", "shopify.com", "canva.com")]
    assert server.request_count("company.find") == 1  # disabled after the 401, never asked again
    assert [o.provider for o in outcomes] == ["company_offline"] * 3
    assert "company_http: auth: HTTP 401" in (outcomes[0].error or "")
    assert "company_http: disabled" in (outcomes[1].error or "")
    disabled_lines = [r for r in caplog.records if "disabled for the rest of the run" in r.getMessage()]
    assert len(disabled_lines) == 1
    assert "company_http" in disabled_lines[0].getMessage()


async def test_breaker_opens_then_half_opens(settings: Settings, server: FakeProviderServer) -> None:
    chain = build_chains(settings)["weather_by_city"]
    server.faults.fail("openweather.weather", 503, times=None)
    async with make_client(settings.gateway) as client:
        first = await chain.call("Paris", client)  # 3 failed attempts: the breaker opens
        assert first.error_kind == "http_5xx"
        sent = server.request_count("openweather.weather")
        assert sent == 3
        for _ in range(20):
            outcome = await chain.call("Paris", client)
            assert outcome.error_kind == "circuit_open"
        assert server.request_count("openweather.weather") == sent  # an open breaker costs nothing
        assert chain.metrics["openweather"].breaker_trips == 1

        time.sleep(0.35)  # past breaker_reset_s: half-open, one probe; it fails, the breaker reopens
        probe = await chain.call("Paris", client)
        assert server.request_count("openweather.weather") == sent + 1
        assert probe.error_kind == "http_5xx"
        assert chain.metrics["openweather"].breaker_trips == 2
        assert (await chain.call("Paris", client)).error_kind == "circuit_open"

        server.faults.clear()
        time.sleep(0.35)
        healed = await chain.call("Paris", client)  # the probe succeeds: closed again
        assert healed.ok and healed.found
        assert (await chain.call("London", client)).ok
    assert server.request_count("openweather.weather") == sent + 3


async def test_github_rate_limit_headers_hold_calls_until_reset(
    settings: Settings, server: FakeProviderServer
) -> None:
    chain = build_chains(settings)["social_by_email"]
    server.github_rate_limit(remaining=2, reset_in_s=0.8)
    async with make_client(settings.gateway) as client:
        first = await chain.call("ada@acme-widgets.com", client)  # search + user: remaining hits 0
        assert first.ok and first.value is not None and first.value["login"] == "ada-lovelace"
        started = time.perf_counter()
        second = await chain.call("grace@contoso.com", client)
        waited = time.perf_counter() - started
    assert second.ok and second.value is not None and second.value["login"] == "grace-h"
    assert waited >= 0.3  # held until the window reset instead of hitting a 403


async def test_github_rate_limit_past_the_cap_fails_without_a_request(
    settings: Settings, server: FakeProviderServer, long_waits: list[float]
) -> None:
    chain = build_chains(settings)["social_by_email"]
    server.github_rate_limit(remaining=2, reset_in_s=120)
    async with make_client(settings.gateway) as client:
        assert (await chain.call("ada@acme-widgets.com", client)).ok
        sent = server.request_count()
        outcome = await chain.call("grace@contoso.com", client)
    assert long_waits == []  # failed at once: no wait for the window
    assert not outcome.ok and outcome.error_kind == "rate_limited"
    assert outcome.error is not None and outcome.error.startswith("github: rate_limited")
    assert server.request_count() == sent


async def test_github_403_rate_limit_is_not_an_auth_failure(
    settings: Settings, server: FakeProviderServer
) -> None:
    chain = build_chains(settings)["social_by_email"]
    server.github_rate_limit(remaining=0, reset_in_s=0.6)
    async with make_client(settings.gateway) as client:
        outcome = await chain.call("ada@acme-widgets.com", client)
    assert outcome.ok and outcome.found  # waited for the reset, then answered
    assert chain.providers[0].guard.disabled_reason is None


@pytest.mark.parametrize("transport", ["aiohttp", "httpx-aiohttp", "httpx"])
async def test_every_transport_classifies_faults_alike(
    settings: Settings, server: FakeProviderServer, transport: TransportName
) -> None:
    chain = build_chains(settings)["weather_by_city"]
    server.faults.reset("openweather.weather").slow("openweather.weather", 1.0)
    async with make_client(settings.gateway, transport=transport) as client:
        recovered = await chain.call("Paris", client)
        server.faults.fail("openweather.weather", 503).malformed("openweather.weather")
        broken = await chain.call("Paris", client)
    assert recovered.ok and recovered.found and recovered.attempts == 3
    assert chain.metrics["openweather"].failures == {
        "connection": 1,
        "timeout": 1,
        "http_5xx": 1,
        "malformed": 1,
    }
    assert not broken.ok and broken.error_kind == "malformed"


def test_rate_limit_is_shared_by_concurrent_tasks_of_one_process(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tasks on two threads (two event loops), each with its own chain: one limit for both."""
    settings = settings_for(
        server, monkeypatch, provider_limits={"openweather": {"rps": 10, "concurrency": 2}}
    )
    server.faults.slow("openweather.weather", 0.05, times=None)
    cities = ["Paris", "London", "Berlin", "Madrid", "Rome", "Dublin", "Tokyo", "Sydney", "Austin", "Seattle"]
    chains = [build_chains(settings)["weather_by_city"] for _ in range(2)]
    assert chains[0].providers[0].guard is chains[1].providers[0].guard
    results: list[int] = []

    def task(chain: ProviderChain, keys: list[str]) -> None:
        batch = asyncio.run(enrich_many(chain, keys, concurrency=10))
        results.append(sum(o.found for o in batch.outcomes))

    keys = [[f"{c}" for c in cities] + [f"{c}, XX" for c in cities][:5] for _ in range(2)]
    started = time.perf_counter()
    threads = [
        threading.Thread(target=task, args=(chain, ks)) for chain, ks in zip(chains, keys, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.perf_counter() - started
    assert results == [15, 15]
    assert server.stats()["peak_in_flight"] <= 2  # never more than 2 in flight across both tasks
    assert elapsed >= 1.8  # 30 calls at 10/s after a burst of 10


async def test_a_cancelled_half_open_probe_does_not_jam_the_breaker(
    settings: Settings, server: FakeProviderServer
) -> None:
    chain = build_chains(settings)["weather_by_city"]
    server.faults.fail("openweather.weather", 503, times=3)
    async with make_client(settings.gateway) as client:
        assert (await chain.call("Paris", client)).error_kind == "http_5xx"  # the breaker opens
        await asyncio.sleep(0.35)
        server.faults.slow("openweather.weather", 2.0)
        probe = asyncio.ensure_future(chain.call("Paris", client))
        await asyncio.sleep(0.1)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        healed = await chain.call("Paris", client)  # the next call may probe
    assert healed.ok and healed.found


async def test_the_default_client_runs_httpx_event_hooks_and_auth_flows(
    settings: Settings, server: FakeProviderServer
) -> None:
    seen: list[tuple[str, int]] = []
    signed_for: list[str] = []

    async def on_response(response: httpx.Response) -> None:
        seen.append((response.request.url.path, response.status_code))

    class Signed(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            request.headers["X-Signature"] = "signed"
            signed_for.append(request.url.params["domain"])
            yield request

    chain = company_chain(settings)
    async with make_client(settings.gateway) as client:
        plain = await chain.call("stripe.com", client)  # nothing to run: the fast path
        client.event_hooks["response"].append(on_response)
        hooked = await chain.call("stripe.com", client)
        client.auth = Signed()
        signed = await chain.call("stripe.com", client)
    assert plain.ok and hooked.ok and signed.ok
    assert seen == [("/v2/companies/find", 200), ("/v2/companies/find", 200)]  # not the first call
    assert signed_for == ["stripe.com"]
    assert server.request_count("company.find") == 3
