"""POST through the gateway: retried only when it never left, on 429, or when the key is honoured."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from aicmo.fakes.webhook_receiver import WebhookReceiver
from aicmo.settings import GatewaySettings
from aicmo.tasks.gateway import CircuitBreaker, PostFailed, make_lean_client, make_session, post

FAST = GatewaySettings(backoff_base_s=0.01, backoff_max_s=0.05, max_attempts=3, timeout_s=1.0)

# Every case runs with both clients the channels use: the same gateway semantics over each.
pytestmark = pytest.mark.parametrize("make", [make_session, make_lean_client], ids=["aiohttp", "lean"])
Make = Callable[[GatewaySettings], Any]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused_is_retried_and_reported_as_never_sent(make: Make) -> None:
    async with make(FAST) as client:
        with pytest.raises(PostFailed) as info:
            await post(
                client, f"http://127.0.0.1:{_closed_port()}/x", provider="t", settings=FAST, content=b"{}"
            )
    assert info.value.kind == "connection" and info.value.may_have_arrived is False


@pytest.mark.parametrize(("honoured", "expected_attempts"), [(False, 1), (True, 2)])
async def test_lost_answer_is_retried_only_when_the_key_is_honoured(
    honoured: bool, expected_attempts: int, make: Make
) -> None:
    with WebhookReceiver(verify=False) as receiver:
        receiver.faults.add("hooks", kind="drop")
        async with make(FAST) as client:
            if honoured:
                response = await post(
                    client,
                    receiver.url,
                    provider="t",
                    settings=FAST,
                    content=b"{}",
                    idempotency_key="k1",
                    key_honoured=True,
                )
                assert response.status_code == 204
            else:
                with pytest.raises(PostFailed) as info:
                    await post(
                        client, receiver.url, provider="t", settings=FAST, content=b"{}", idempotency_key="k1"
                    )
                assert info.value.may_have_arrived is True
        assert receiver.attempts == expected_attempts


async def test_429_waits_retry_after_and_5xx_without_key_is_returned(make: Make) -> None:
    with WebhookReceiver(verify=False) as receiver:
        receiver.faults.add("hooks", status=429, retry_after="0")
        receiver.faults.add("hooks", status=503)
        breaker = CircuitBreaker(5, 30)
        async with make(FAST) as client:
            response = await post(
                client, receiver.url, provider="t", settings=FAST, content=b"{}", breaker=breaker
            )
            assert response.status_code == 503  # not retried: the API does not promise idempotency
            response = await post(
                client, receiver.url, provider="t", settings=FAST, content=b"{}", breaker=breaker
            )
            assert response.status_code == 204
        assert receiver.attempts == 3
