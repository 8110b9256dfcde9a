"""The base of every provider adapter: credentials, auth header, one HTTP GET with its errors classified.

An adapter implements ``fetch(key, client)`` as *one attempt* at the provider; the gateway's
guard adds retries, the breaker and the rate limit around it. ``get_json`` turns each HTTP
outcome into either parsed JSON, ``None`` for a 'not found', or a ``ProviderError`` of the right
kind, with the API's own error message (secrets masked).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from abc import ABC, abstractmethod
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import SecretStr

from aicmo.settings import GatewaySettings, ProviderLimit
from aicmo.tasks.gateway._errors import ProviderError
from aicmo.tasks.gateway._guard import ProviderGuard, guard_for
from aicmo.tasks.gateway._outcome import Answer
from aicmo.tasks.gateway._published_limits import limit_for
from aicmo.tasks.gateway._redact import register_secret
from aicmo.tasks.gateway._retry import parse_retry_after
from aicmo.tasks.gateway._transport import GatewayClient, HttpReply

try:  # orjson parses provider bodies several times faster; json is the fallback
    import orjson

    def _loads(body: bytes) -> Any:
        return orjson.loads(body)

    _DECODE_ERRORS: tuple[type[Exception], ...] = (orjson.JSONDecodeError, UnicodeDecodeError)
except ImportError:  # pragma: no cover

    def _loads(body: bytes) -> Any:
        return json.loads(body)

    _DECODE_ERRORS = (json.JSONDecodeError, UnicodeDecodeError)

MAX_ERROR_TEXT = 200


def _transport_kind(exc: httpx.TransportError) -> str:
    """'timeout' or 'connection', looking through the aiohttp transport's exception mapping."""
    cause = exc.__cause__
    if cause is not None:
        if isinstance(cause, asyncio.TimeoutError | TimeoutError):
            return "timeout"
        try:
            import aiohttp

            if isinstance(cause, aiohttp.ServerTimeoutError):
                return "timeout"
            if isinstance(cause, aiohttp.ClientError):
                return "connection"
        except ImportError:  # pragma: no cover
            pass
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"


class Provider(ABC):
    """One provider of one capability: where it lives, how it authenticates, how it answers."""

    name: ClassVar[str]
    capability: ClassVar[str]

    def __init__(
        self,
        base_url: str,
        secret: SecretStr | str | None = None,
        *,
        settings: GatewaySettings | None = None,
        limit: ProviderLimit | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        self._secret = raw or None
        register_secret(self._secret)
        self.settings = settings or GatewaySettings()
        self._headers: weakref.WeakKeyDictionary[httpx.AsyncClient, httpx.Headers] = (
            weakref.WeakKeyDictionary()
        )
        self._plain_headers: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[str, str]] = (
            weakref.WeakKeyDictionary()
        )
        self.guard: ProviderGuard = guard_for(
            self.name,
            self.base_url,
            self._secret,
            limit or limit_for(self.name, self.settings),
            self.settings,
        )

    def __repr__(self) -> str:  # never shows the secret
        return f"<{type(self).__name__} {self.name} at {self.base_url}>"

    @abstractmethod
    async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
        """One attempt at answering ``key`` (already normalized); raises ``ProviderError``."""

    # ---- HTTP -------------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request (Bearer token by default)."""
        return {"Authorization": f"Bearer {self._secret}"} if self._secret else {}

    def error_detail(self, body: Any) -> str | None:
        """The API's own error message from an error body (override per API)."""
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                return " ".join(str(error.get(k)) for k in ("type", "message") if error.get(k))
            if isinstance(body.get("message"), str):
                return str(body["message"])
        return None

    def observe(self, response: HttpReply) -> None:  # noqa: B027 - an optional hook
        """Look at every response's headers (e.g. rate-limit windows); nothing by default."""

    def classify(self, response: HttpReply, detail: str) -> ProviderError:
        """The error for a non-2xx, non-'not found' response."""
        status = response.status_code
        message = f"HTTP {status}" + (f": {detail}" if detail else "")
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return ProviderError(self.name, "rate_limited", message, status=status, retry_after=retry_after)
        if status in (401, 403):
            return ProviderError(self.name, "auth", message, status=status)
        if status >= 500:
            return ProviderError(self.name, "http_5xx", message, status=status)
        return ProviderError(self.name, "client_error", message, status=status)

    def _decode(self, response: HttpReply) -> Any:
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type:
            raise ProviderError(
                self.name,
                "malformed",
                f"HTTP {response.status_code} with content type {content_type or 'none'!r}, expected JSON",
                status=response.status_code,
            )
        try:
            return _loads(response.content)
        except _DECODE_ERRORS as exc:
            raise ProviderError(
                self.name, "malformed", f"invalid JSON in HTTP {response.status_code} body: {exc}"
            ) from None

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        url = self.base_url + path
        if params:
            url += "?" + urlencode(params, doseq=True, quote_via=quote)
        return url

    def _client_headers(self, client: httpx.AsyncClient) -> httpx.Headers:
        headers = self._headers.get(client)
        if headers is None:
            headers = httpx.Headers(client.headers)
            headers.update(self.auth_headers())
            self._headers[client] = headers
        return headers

    async def _send(self, client: httpx.AsyncClient, path: str, params: dict[str, Any] | None) -> HttpReply:
        url = self._url(path, params)
        headers = self._client_headers(client)
        timeout = client.timeout.as_dict()
        if isinstance(client, GatewayClient) and client.plain_gets:
            plain = self._plain_headers.get(client)
            if plain is None:
                plain = self._plain_headers[client] = dict(headers.items())
            return await client.body_transport.get(url, plain, timeout)
        # Built directly rather than through ``client.get``: httpx then parses the URL once, not thrice.
        return await client.send(httpx.Request("GET", url, headers=headers, extensions={"timeout": timeout}))

    async def get_json(
        self,
        client: httpx.AsyncClient,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        not_found: tuple[int, ...] = (404,),
    ) -> Any | None:
        """GET ``path`` and return its JSON; ``None`` for a status in ``not_found``."""
        try:
            response = await self._send(client, path, params)
        except httpx.TransportError as exc:
            kind = _transport_kind(exc)
            raise ProviderError(self.name, kind, f"{type(exc).__name__} on GET {path}: {exc}") from None
        self.observe(response)
        status = response.status_code
        if status in not_found:
            return None
        if 200 <= status < 300:
            return self._decode(response)
        try:
            detail = self.error_detail(self._decode(response)) or ""
        except ProviderError:
            detail = ""
        raise self.classify(response, detail[:MAX_ERROR_TEXT])
