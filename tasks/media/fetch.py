"""Downloading an asset by URL without becoming a way into the private network (SSRF).

Only ``http``/``https`` URLs are fetched, through httpx with a timeout, without proxies from the
environment, and with a size cap enforced while the body streams (a missing or lying
Content-Length changes nothing). The address check sits in the connection layer: the network
backend resolves the host, refuses private, loopback, link-local, shared, reserved, multicast and
cloud-metadata addresses, and connects to the very address it checked, so a DNS answer that
changes between check and connect (DNS rebinding) cannot slip through; TLS still verifies the
host name. Redirects are followed by hand, at most ``fetch_max_redirects`` hops, each hop's URL
checked again and its connection going through the same backend. Addresses or networks listed in
``AICMO_MEDIA_FETCH_ALLOWED_IPS`` are allowed explicitly (tests allow 127.0.0.1 this way).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from aicmo.errors import ConfigError, InputError
from aicmo.settings import MediaSettings

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16", "fd00:ec2::254")
)
"""Cloud instance-metadata endpoints (AWS, ECS, Alibaba, Azure wireserver, AWS IPv6)."""


class BlockedAddressError(httpcore.ConnectError):
    """The host resolves only to addresses the fetcher refuses."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(ip: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why ``ip`` may not be fetched from, or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allowed):
        return None
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "not a public address"
    return None


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects to the checked address (never re-resolving the name)."""

    def __init__(self, allowed: Sequence[IPNetwork], resolver: Resolver = system_resolver) -> None:
        self.allowed = list(allowed)
        self.resolver = resolver
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = [host] if _is_ip(host) else self.resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        reasons = []
        for address in addresses:
            why = refusal(ipaddress.ip_address(address), self.allowed)
            if why is None:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            reasons.append(f"{address} is {why}")
        raise BlockedAddressError(f"refused to connect to {host}: {'; '.join(reasons) or 'no address'}")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise BlockedAddressError("unix sockets are not fetched from")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport whose connections all go through a ``GuardedBackend``."""

    def __init__(self, backend: GuardedBackend) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=backend, max_connections=4
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        req = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        resp = self._pool.handle_request(req)
        return httpx.Response(
            status_code=resp.status,
            headers=resp.headers,
            stream=_Stream(resp),
            extensions=resp.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _Stream(httpx.SyncByteStream):
    def __init__(self, resp: httpcore.Response) -> None:
        self._resp = resp

    def __iter__(self) -> Any:
        yield from self._resp.iter_stream()

    def close(self) -> None:
        self._resp.close()


@dataclass(frozen=True)
class Download:
    """A fetched body, the URL it finally came from, and a file name for it."""

    data: bytes
    url: str
    name: str


def allowed_networks(media: MediaSettings) -> list[IPNetwork]:
    """The explicitly allowed networks of the settings (a bad entry is a config error)."""
    nets = []
    for entry in media.fetch_allowed_ips:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(
                f"AICMO_MEDIA_FETCH_ALLOWED_IPS: {entry!r} is not an address or network"
            ) from None
    return nets


def _check_scheme(url: httpx.URL, shown: str) -> None:
    if url.scheme not in ("http", "https"):
        raise InputError(f"{shown}: only http and https URLs are fetched (got {url.scheme or 'no'} scheme)")
    if not url.host:
        raise InputError(f"{shown}: the URL has no host")


def _name(url: httpx.URL) -> str:
    last = url.path.rstrip("/").rsplit("/", 1)[-1]
    return last or url.host or "download"


def fetch_url(url: str, media: MediaSettings, *, resolver: Resolver = system_resolver) -> Download:
    """Download ``url`` within the settings' limits; ``InputError`` (one line) on any refusal."""
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InputError(f"{url}: not a valid URL ({exc})") from None
    _check_scheme(current, url)
    cap = media.max_bytes
    deadline = time.monotonic() + media.fetch_timeout_s
    backend = GuardedBackend(allowed_networks(media), resolver)
    with httpx.Client(
        transport=GuardedTransport(backend),
        timeout=httpx.Timeout(media.fetch_timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "aicmo-media/1"},
    ) as client:
        for _hop in range(media.fetch_max_redirects + 1):
            try:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect:
                        location = resp.headers.get("location", "")
                        current = current.join(location)
                        _check_scheme(current, f"{url} (redirected to {current})")
                        continue
                    if resp.status_code != 200:
                        raise InputError(f"{url}: HTTP {resp.status_code} from {current}")
                    declared = resp.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) > cap:
                        raise InputError(f"{url}: {int(declared):,} bytes is over the {cap:,}-byte cap")
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > cap:
                            raise InputError(f"{url}: more than the {cap:,}-byte cap (AICMO_MEDIA_MAX_BYTES)")
                        if time.monotonic() > deadline:
                            raise InputError(f"{url}: download took longer than {media.fetch_timeout_s:g} s")
                    return Download(bytes(body), str(current), _name(current))
            except BlockedAddressError as exc:
                raise InputError(f"{url}: {exc}") from None
            except (httpx.TimeoutException, httpcore.TimeoutException):
                raise InputError(f"{url}: timed out after {media.fetch_timeout_s:g} s") from None
            except (httpx.HTTPError, httpcore.NetworkError, httpcore.ProtocolError) as exc:
                raise InputError(f"{url}: fetch failed ({exc})") from None
    raise InputError(f"{url}: more than {media.fetch_max_redirects} redirects")
