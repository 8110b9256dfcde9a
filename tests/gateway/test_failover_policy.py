"""How soon the chain moves on (``failover_policy``): who answers and how many attempts each got.

``retry`` (the default) retries the primary before failing over; ``fail_fast`` moves on after one
transient error; ``hedged`` also asks the next provider when the current one stays silent.
Timings here only bound what would otherwise take the primary's full delay.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.settings import GatewaySettings, Settings
from aicmo.tasks.gateway import ProviderChain, make_client
from aicmo.tasks.providers.company import CompanyHttpProvider


class BackupCompanyProvider(CompanyHttpProvider):
    """A second Clearbit-style provider on another server."""

    name = "company_backup"


@pytest.fixture
def backup() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


def refused_url() -> str:
    """A port on 127.0.0.1 nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def chain_of(primary_url: str, backup: FakeProviderServer, gw: GatewaySettings) -> ProviderChain:
    secret = backup.credentials["company"]
    return ProviderChain(
        "company_by_domain",
        [
            CompanyHttpProvider(primary_url, secret, settings=gw),
            BackupCompanyProvider(backup.base_url, secret, settings=gw),
        ],
        settings=gw,
    )


def policy(settings: Settings, name: str, **more: object) -> GatewaySettings:
    return settings.gateway.model_copy(update={"failover_policy": name, **more})


async def test_fail_fast_moves_on_after_one_5xx(
    settings: Settings, server: FakeProviderServer, backup: FakeProviderServer
) -> None:
    gw = policy(settings, "fail_fast")
    server.faults.fail("company.find", 503, times=None)
    chain = chain_of(server.base_url, backup, gw)
    async with make_client(gw) as client:
        outcome = await chain.call("stripe.com", client)
    assert outcome.ok and outcome.provider == "company_backup"
    assert outcome.tried == ["company_http", "company_backup"]
    assert outcome.attempts == 2
    assert server.request_count("company.find") == 1  # under "retry" it would be max_attempts (3)
    assert backup.request_count("company.find") == 1
    assert chain.metrics["company_http"].failovers == 1


async def test_fail_fast_moves_on_after_one_refused_connection(
    settings: Settings, backup: FakeProviderServer
) -> None:
    gw = policy(settings, "fail_fast")
    chain = chain_of(refused_url(), backup, gw)
    async with make_client(gw) as client:
        outcome = await chain.call("stripe.com", client)
    assert outcome.ok and outcome.provider == "company_backup"
    assert chain.metrics["company_http"].calls == 1
    assert chain.metrics["company_http"].failures["connection"] == 1
    assert outcome.error is not None and "company_http: connection" in outcome.error


async def test_retry_policy_retries_the_primary_first(settings: Settings, backup: FakeProviderServer) -> None:
    gw = policy(settings, "retry")
    chain = chain_of(refused_url(), backup, gw)
    async with make_client(gw) as client:
        outcome = await chain.call("stripe.com", client)
    assert outcome.provider == "company_backup"
    assert chain.metrics["company_http"].calls == gw.max_attempts


async def test_fail_fast_still_retries_the_last_provider_and_asks_the_first_again_next_time(
    settings: Settings, server: FakeProviderServer, backup: FakeProviderServer
) -> None:
    gw = policy(settings, "fail_fast")
    server.faults.fail("company.find", 503, times=1)
    backup.faults.fail("company.find", 502, times=1)
    chain = chain_of(server.base_url, backup, gw)
    async with make_client(gw) as client:
        first = await chain.call("stripe.com", client)
        assert first.ok and first.provider == "company_backup"
        assert backup.request_count("company.find") == 2  # nothing after it: the last one retries
        second = await chain.call("stripe.com", client)
    assert second.ok and second.found and second.provider == "company_http"  # the primary again
    assert server.request_count("company.find") == 2
    assert backup.request_count("company.find") == 2


async def test_an_open_breaker_fails_over_without_a_request(
    settings: Settings, server: FakeProviderServer, backup: FakeProviderServer
) -> None:
    gw = policy(settings, "fail_fast")
    chain = chain_of(server.base_url, backup, gw)
    breaker = chain.providers[0].guard.breaker
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()
    async with make_client(gw) as client:
        outcome = await chain.call("stripe.com", client)
    assert outcome.ok and outcome.provider == "company_backup"
    assert server.request_count("company.find") == 0
    assert chain.metrics["company_http"].failures["circuit_open"] == 1


async def test_hedged_asks_the_next_provider_when_the_primary_is_silent(
    settings: Settings, server: FakeProviderServer, backup: FakeProviderServer
) -> None:
    # The primary would answer after 5 s (its idle timeout is 10 s): the hedge answers first and
    # the primary's call is cancelled.
    gw = policy(settings, "hedged", hedge_after_s=0.05, timeout_s=10.0)
    server.faults.slow("company.find", 5.0, times=None)
    chain = chain_of(server.base_url, backup, gw)
    async with make_client(gw) as client:
        outcome = await chain.call("stripe.com", client)
    assert outcome.ok and outcome.provider == "company_backup"
    assert outcome.value is not None and outcome.value["name"] == "Stripe"
    assert outcome.tried == ["company_http", "company_backup"]
    assert outcome.attempts == 2  # the cancelled request to the primary counts
    assert server.request_count("company.find") == 1
    assert backup.request_count("company.find") == 1
    assert chain.metrics["company_http"].failovers == 1
    assert outcome.elapsed_s < 4.0  # well before the primary's 5 s answer


async def test_hedged_leaves_the_backup_alone_when_the_primary_answers(
    settings: Settings, server: FakeProviderServer, backup: FakeProviderServer
) -> None:
    gw = policy(settings, "hedged", hedge_after_s=5.0)
    chain = chain_of(server.base_url, backup, gw)
    async with make_client(gw) as client:
        outcomes = [await chain.call(domain, client) for domain in ("stripe.com", "Stripe.com")]
    assert [o.provider for o in outcomes] == ["company_http", "company_http"]
    assert all(o.tried == ["company_http"] for o in outcomes)
    assert backup.request_count("company.find") == 0


async def test_hedged_moves_on_at_once_after_a_5xx(
    settings: Settings, server: FakeProviderServer, backup: FakeProviderServer
) -> None:
    gw = policy(settings, "hedged", hedge_after_s=30.0)
    server.faults.fail("company.find", 500, times=None)
    chain = chain_of(server.base_url, backup, gw)
    async with make_client(gw) as client:
        outcome = await chain.call("stripe.com", client)
    assert outcome.ok and outcome.provider == "company_backup"
    assert server.request_count("company.find") == 1
    assert outcome.elapsed_s < 20.0  # did not wait out the 30 s hedge delay


async def test_hedged_prefers_a_later_answer_to_a_not_found(
    settings: Settings, server: FakeProviderServer, backup: FakeProviderServer
) -> None:
    # gmail.com is not a company for the fake API: the primary's 'not found' starts the backup,
    # whose 'not found' too makes the honest answer.
    gw = policy(settings, "hedged", hedge_after_s=30.0)
    chain = chain_of(server.base_url, backup, gw)
    async with make_client(gw) as client:
        outcome = await chain.call("gmail.com", client)
    assert outcome.ok and not outcome.found
    assert outcome.provider == "company_http"
    assert outcome.tried == ["company_http", "company_backup"]
    assert backup.request_count("company.find") == 1
