"""POST through the gateway's retry, Retry-After and breaker machinery, without ever sending twice.

A GET can be repeated freely; a POST creates something. So a POST is retried only when that is
safe:

* the request never left (connection refused, DNS failure): always;
* a 429: the API refused to process it, so after its Retry-After (capped as for GETs): always;
* a timeout, a connection lost after sending, or a 5xx: only when the API honours the
  ``Idempotency-Key`` header sent with every attempt (``key_honoured``), since then a repeat of
  a request that did arrive is answered with the first result instead of acting twice.

When a failure may have reached the API and cannot be retried, ``PostFailed.may_have_arrived``
says so: the caller records the message as *unknown* rather than trying again on its own.
Backoff (full jitter), Retry-After parsing and the circuit breaker are the gateway's own.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from aicmo.settings import GatewaySettings
from aicmo.tasks.gateway._breaker import CircuitBreaker
from aicmo.tasks.gateway._errors import ProviderError
from aicmo.tasks.gateway._lean import LeanClient, NoAnswer, NotSent
from aicmo.tasks.gateway._retry import backoff_s, parse_retry_after

RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class PostReply:
    """A whole answer to a POST: status, case-insensitive headers, body."""

    status_code: int
    headers: CIMultiDictProxy[str] | Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body parsed as JSON (ValueError if it is not)."""
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.content.decode("utf-8", "replace")


class PostFailed(ProviderError):
    """A POST that did not get a usable answer; ``may_have_arrived`` if the API may have acted on it."""

    def __init__(
        self,
        provider: str,
        kind: str,
        message: str,
        *,
        may_have_arrived: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, kind, message, status=status, retry_after=retry_after)
        self.may_have_arrived = may_have_arrived


def make_session(settings: GatewaySettings, *, connections: int = 32) -> aiohttp.ClientSession:
    """An aiohttp session for POSTs: pooled keep-alive connections, the gateway's timeouts."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=settings.timeout_s, sock_read=settings.timeout_s
        ),
        headers={"User-Agent": "aicmo-publisher/0.1"},
    )


def make_lean_client(settings: GatewaySettings, *, connections: int = 32) -> LeanClient:
    """The lean keep-alive client for POSTs of bytes (signed webhooks): the gateway's timeouts,
    aiohttp (``make_session``) for whatever it does not handle itself."""
    return LeanClient(
        connections=connections,
        connect_timeout_s=settings.timeout_s,
        read_timeout_s=settings.timeout_s,
        keepalive_s=30.0,
        fallback=lambda: make_session(settings, connections=connections),
    )


async def _once(
    session: aiohttp.ClientSession | LeanClient, url: str, body: Any, headers: Mapping[str, str]
) -> PostReply:
    if isinstance(session, LeanClient):
        if isinstance(body, bytes | None) and session.handles(url):
            status, reply_headers, content = await session.post(url, body or b"", headers)
            return PostReply(status, reply_headers, content)
        session = session.fallback_session()  # a form body, a URL with credentials: aiohttp's
    async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
        return PostReply(response.status, response.headers, await response.read())


async def post(
    session: aiohttp.ClientSession | LeanClient,
    url: str,
    *,
    provider: str,
    settings: GatewaySettings,
    content: bytes | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    idempotency_key: str | None = None,
    key_honoured: bool = False,
    breaker: CircuitBreaker | None = None,
) -> PostReply:
    """POST with safe retries; returns the final answer (2xx, or a 4xx/5xx the caller classifies).

    Raises ``PostFailed`` when no answer could be had (or the breaker is open).
    """
    sent_headers = dict(headers or {})
    if idempotency_key is not None:
        sent_headers["Idempotency-Key"] = idempotency_key
    body: Any = content
    if json is not None:
        body = jsonlib.dumps(json, separators=(",", ":")).encode()
        sent_headers.setdefault("Content-Type", "application/json")
    elif data is not None:
        body = dict(data)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        sent_headers["Authorization"] = f"Basic {token}"
    may_have_arrived = False
    attempt = 0
    while True:
        attempt += 1
        if breaker is not None and not breaker.allow():
            raise PostFailed(
                provider, "circuit_open", "breaker open, not sent", may_have_arrived=may_have_arrived
            )
        try:
            response = await _once(session, url, body, sent_headers)
        except (aiohttp.ClientConnectorError, NotSent) as exc:  # refused, DNS: the request never left
            failure = PostFailed(
                provider,
                exc.kind if isinstance(exc, NotSent) else "connection",
                f"not sent: {exc}",
                may_have_arrived=may_have_arrived,
            )
            if breaker is not None:
                breaker.record_failure()
            if attempt >= settings.max_attempts:
                raise failure from None
            await asyncio.sleep(backoff_s(failure, attempt, settings))
            continue
        except (TimeoutError, aiohttp.ClientError, NoAnswer) as exc:  # timeout / reset after sending
            may_have_arrived = True
            if isinstance(exc, NoAnswer):
                kind = exc.kind
            else:
                kind = "timeout" if isinstance(exc, TimeoutError) else "connection"
            failure = PostFailed(
                provider, kind, f"no answer: {type(exc).__name__}: {exc}", may_have_arrived=True
            )
            if breaker is not None:
                breaker.record_failure()
            if not key_honoured or attempt >= settings.max_attempts:
                raise failure from None
            await asyncio.sleep(backoff_s(failure, attempt, settings))
            continue
        status = response.status_code
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            limited = PostFailed(
                provider,
                "rate_limited",
                "429",
                may_have_arrived=may_have_arrived,
                status=429,
                retry_after=wait,
            )
            if attempt >= settings.max_attempts or (wait is not None and wait > settings.retry_after_cap_s):
                return response
            await asyncio.sleep(backoff_s(limited, attempt, settings))
            continue
        if status in RETRY_STATUSES:
            if breaker is not None:
                breaker.record_failure()
            if key_honoured and attempt < settings.max_attempts:
                may_have_arrived = True
                failure = PostFailed(provider, "http_5xx", str(status), may_have_arrived=True, status=status)
                await asyncio.sleep(backoff_s(failure, attempt, settings))
                continue
            return response
        if breaker is not None:
            breaker.record_success() if status < 500 else breaker.record_failure()
        return response
