"""The HTTP client every adapter shares: httpx's API over a transport picked by measurement.

Three transports are available: ``httpx`` (httpcore's pool, httpx's default), ``httpx-aiohttp``
(the ``httpx_aiohttp.AiohttpTransport`` package) and ``aiohttp`` (``AiohttpBodyTransport`` below:
one aiohttp session, each body read whole, no per-chunk stream objects). At 50 calls in flight on
loopback httpcore's pool is several times slower than aiohttp (httpx issue #3215), and httpx's
own Request/Response objects cost more CPU per call than aiohttp's whole request, so the default
``GatewayClient`` also offers the gateway a fast path that skips them. docs/BENCHMARKS.md has the
figures behind the choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import httpx

from aicmo.settings import GatewaySettings

TransportName = Literal["aiohttp", "httpx-aiohttp", "httpx"]
TRANSPORTS: tuple[TransportName, ...] = ("aiohttp", "httpx-aiohttp", "httpx")
DEFAULT_TRANSPORT: TransportName = "aiohttp"
USER_AGENT = "aicmo-gateway/0.1"
POOL_WAIT_S = 60.0


class HttpReply(Protocol):
    """What an adapter reads from a response; ``httpx.Response`` and ``Reply`` both fit."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole response (status, case-insensitive headers, body) read by the gateway's fast path."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


class AiohttpBodyTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp ``ClientSession`` that reads each body whole.

    Provider bodies are small JSON documents, so reading them in one go is simpler and cheaper
    than streaming; a connection dropped mid-body surfaces as ``httpx.ReadError``, a stalled one
    as ``httpx.ReadTimeout``, exactly as through httpx's own transport.
    """

    def __init__(self, max_connections: int = 100, keepalive_s: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_s, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    def _timeout(self, spec: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        key = (spec.get("connect"), spec.get("read"), spec.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
        return timeout

    async def _fetch(
        self,
        method: str,
        url: str,
        headers: Any,
        body: bytes | None,
        timeout: Mapping[str, float | None],
        request: httpx.Request | None,
    ) -> tuple[int, Any, bytes, str]:
        try:
            async with self._client().request(
                method, url, headers=headers, data=body, allow_redirects=False, timeout=self._timeout(timeout)
            ) as response:
                content = await response.read()
                return response.status, response, content, response.reason or ""
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(f"timed out ({type(exc).__name__})", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx.ReadError(f"connection broken mid-body: {exc}", request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(f"server disconnected: {exc}", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.NetworkError(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def get(self, url: str, headers: Mapping[str, str], timeout: Mapping[str, float | None]) -> Reply:
        """GET ``url`` without building httpx Request/Response objects (the gateway's fast path).

        Raises the same ``httpx`` exceptions as a call through the client would.
        """
        status, response, content, _ = await self._fetch("GET", url, headers, None, timeout, None)
        return Reply(status, response.headers, content)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        status, response, content, reason = await self._fetch(
            request.method,
            str(request.url),
            headers,
            request.content or None,
            request.extensions.get("timeout", {}),
            request,
        )
        return httpx.Response(
            status,
            headers=response.raw_headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason.encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class GatewayClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that also hands its aiohttp transport to the gateway's fast path.

    Adapters call ``Provider.get_json(client, ...)``; with a ``GatewayClient`` that GET goes
    straight to ``AiohttpBodyTransport.get`` with the client's headers and timeouts, skipping
    httpx's Request/Response objects, as long as nothing would run on them: once the client has an
    auth flow or an event hook, every GET goes through ``client.send`` so that they apply. Every
    other use of the client is plain httpx.
    """

    def __init__(self, *, body_transport: AiohttpBodyTransport, **kwargs: Any) -> None:
        super().__init__(transport=body_transport, **kwargs)
        self.body_transport = body_transport

    @property
    def plain_gets(self) -> bool:
        """Whether a GET may skip httpx's objects: no auth flow and no event hook would see it."""
        hooks = self.event_hooks
        return self.auth is None and not hooks["request"] and not hooks["response"]


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
    options: dict[str, Any] = {
        "limits": limits,
        # Waiting for a pooled connection is not the provider's fault: only connect/read/write count.
        "timeout": httpx.Timeout(settings.timeout_s, pool=POOL_WAIT_S),
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        "follow_redirects": False,
    }
    if transport == "aiohttp":
        return GatewayClient(body_transport=AiohttpBodyTransport(max_connections=connections), **options)
    if transport == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), **options)
    if transport == "httpx":
        return httpx.AsyncClient(**options)
    raise ValueError(f"unknown transport {transport!r}; use one of {TRANSPORTS}")
