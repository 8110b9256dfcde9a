"""The HTTP client every adapter shares: httpx's API over a transport picked by measurement.

At 50 calls in flight on loopback, httpx's default transport (httpcore's pool) tops out far below
aiohttp (httpcore pool contention, httpx issue #3215); the httpx-aiohttp transport keeps httpx's
API with aiohttp's connection pool underneath. See docs/BENCHMARKS.md for the figures.
"""

from __future__ import annotations

from typing import Literal

import httpx

from aicmo.settings import GatewaySettings

TransportName = Literal["aiohttp", "httpx"]
DEFAULT_TRANSPORT: TransportName = "aiohttp"
USER_AGENT = "aicmo-gateway/0.1"


def make_client(
    settings: GatewaySettings | None = None,
    *,
    transport: TransportName = DEFAULT_TRANSPORT,
    max_connections: int | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with pooled connections sized for the gateway's concurrency."""
    settings = settings or GatewaySettings()
    connections = max_connections or max(settings.concurrency, 10)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(settings.timeout_s)
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits),
            timeout=timeout,
            headers=headers,
            follow_redirects=False,
        )
    if transport == "httpx":
        return httpx.AsyncClient(limits=limits, timeout=timeout, headers=headers, follow_redirects=False)
    raise ValueError(f"unknown transport {transport!r}; use 'aiohttp' or 'httpx'")
