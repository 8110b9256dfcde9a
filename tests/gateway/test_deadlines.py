"""Deadlines bound a lookup's total time: a provider trickling its body cannot hold a call.

The fake server sends the real answer one byte every 0.1 s over a real socket on 127.0.0.1, so
the client's idle timeout (0.3 s) never fires: only the deadlines can end the attempt. The whole
body would take over two minutes; the bounds asserted below are the deadline plus several
seconds of slack for a loaded machine, far below that.
"""

from __future__ import annotations

import pytest

from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.settings import GatewaySettings, Settings
from aicmo.tasks.gateway import ProviderChain, TransportName, make_client
from aicmo.tasks.gateway._deadline import worth_retrying
from aicmo.tasks.providers.company import CompanyHttpProvider

TRICKLE_S = 0.1  # well inside the 0.3 s idle timeout of the test settings
SLACK_S = 4.0


class BackupCompanyProvider(CompanyHttpProvider):
    """A second Clearbit-style provider on another server."""

    name = "company_backup"


def two_providers(
    primary: FakeProviderServer, backup: FakeProviderServer, gw: GatewaySettings
) -> ProviderChain:
    return ProviderChain(
        "company_by_domain",
        [
            CompanyHttpProvider(primary.base_url, primary.credentials["company"], settings=gw),
            BackupCompanyProvider(backup.base_url, backup.credentials["company"], settings=gw),
        ],
        settings=gw,
    )


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_trickling_provider_is_cut_at_the_attempt_deadline_and_the_chain_fails_over(
    settings: Settings, server: FakeProviderServer, transport: TransportName
) -> None:
    gw = settings.gateway.model_copy(
        update={"timeout_s": 0.3, "attempt_deadline_s": 0.4, "call_deadline_s": 30.0, "max_attempts": 2}
    )
    server.faults.trickle("company.find", TRICKLE_S, times=None)
    with FakeProviderServer() as backup:
        chain = two_providers(server, backup, gw)
        async with make_client(gw, transport=transport) as client:
            outcome = await chain.call("stripe.com", client)
        assert outcome.ok and outcome.found
        assert outcome.provider == "company_backup"
        assert outcome.value is not None and outcome.value["name"] == "Stripe"
        assert outcome.tried == ["company_http", "company_backup"]
        assert server.request_count("company.find") == 2  # a cut attempt is a timeout: retried once
        assert backup.request_count("company.find") == 1
        assert outcome.error is not None
        assert "company_http: timeout: no complete answer within the 0.4 s attempt deadline" in outcome.error
        assert outcome.elapsed_s < 2 * 0.4 + SLACK_S
        assert chain.metrics["company_http"].failures["timeout"] == 2


async def test_the_lookup_deadline_bounds_retries(settings: Settings, server: FakeProviderServer) -> None:
    gw = settings.gateway.model_copy(
        update={"timeout_s": 0.3, "attempt_deadline_s": 0.3, "call_deadline_s": 0.8, "max_attempts": 20}
    )
    server.faults.trickle("company.find", TRICKLE_S, times=None)
    chain = ProviderChain(
        "company_by_domain",
        [CompanyHttpProvider(server.base_url, server.credentials["company"], settings=gw)],
        settings=gw,
    )
    async with make_client(gw) as client:
        outcome = await chain.call("stripe.com", client)
    assert not outcome.ok
    assert outcome.error_kind == "timeout"
    assert outcome.error is not None
    assert "the lookup's 0.8 s deadline passed" in outcome.error
    assert 2 <= server.request_count("company.find") < 20  # retried, but not 20 times
    assert outcome.elapsed_s < 0.8 + SLACK_S


async def test_the_lookup_deadline_stops_the_chain_before_the_next_provider(
    settings: Settings, server: FakeProviderServer
) -> None:
    # The primary's one attempt is cut by the lookup's deadline (its own would allow 30 s):
    # nothing is left for the backup, and the error says it was not asked.
    gw = settings.gateway.model_copy(
        update={"timeout_s": 0.3, "attempt_deadline_s": 30.0, "call_deadline_s": 0.5, "max_attempts": 1}
    )
    server.faults.trickle("company.find", TRICKLE_S, times=None)
    with FakeProviderServer() as backup:
        async with make_client(gw) as client:
            outcome = await two_providers(server, backup, gw).call("stripe.com", client)
        assert not outcome.ok and outcome.error_kind == "timeout"
        assert outcome.error is not None
        assert "the lookup's 0.5 s deadline passed before the answer was complete" in outcome.error
        assert "not asked: company_backup" in outcome.error
        assert backup.request_count("company.find") == 0
        assert outcome.elapsed_s < 0.5 + SLACK_S


def test_a_retry_keeps_a_full_attempt_for_the_providers_after_it() -> None:
    # 10 s attempts, 30 s per lookup: a provider that is not the last gets a retry while one
    # full attempt would still be left for the next provider; the last one may use it all.
    assert worth_retrying(remaining_s=20.5, sleep_s=0.4, reserve_s=10.0)
    assert not worth_retrying(remaining_s=10.3, sleep_s=0.4, reserve_s=10.0)
    assert worth_retrying(remaining_s=10.3, sleep_s=0.4, reserve_s=0.0)
    assert not worth_retrying(remaining_s=0.3, sleep_s=0.4, reserve_s=0.0)


def test_deadlines_have_sane_defaults() -> None:
    gw = GatewaySettings()
    assert gw.timeout_s < gw.attempt_deadline_s < gw.call_deadline_s
    assert gw.call_deadline_s >= 2 * gw.attempt_deadline_s  # room for a retry and a failover
