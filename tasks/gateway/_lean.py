"""A lean HTTP/1.1 keep-alive client for the gateway's POST hot path (signed webhooks first).

On loopback aiohttp spends ~90 us of CPU per request; most of it is generality the publishing
channels do not use (middlewares, tracing hooks, cookie jars, streamed bodies). This client does
one thing: POST a body that is already bytes over a pool of persistent connections, one request
in flight per connection, and read the whole answer. The request line, headers and body go out
in one write; the answer is parsed by a small ``asyncio.Protocol`` (status line, headers,
``Content-Length``, chunked or read-until-close bodies, ``Connection: close``, 1xx skipped).

Failures are split the way ``gateway.post`` needs them: ``NotSent`` (refused, DNS, TLS
handshake, connect timeout: nothing left, always safe to retry) and ``NoAnswer`` (the request was
written but no whole answer came back: a reset, a close mid-answer, a malformed answer, or no
bytes for ``read_timeout_s``: it may have arrived). https URLs use an ``ssl.SSLContext`` that
verifies by default. Anything this client does not handle (a URL with credentials, a non-ASCII or
non-HTTP URL, a form body) goes through its ``fallback_session``, an aiohttp session made on first
use (``gateway.post`` routes it there), so the caller sees aiohttp's behaviour.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict

USER_AGENT = "aicmo-publisher/0.1"
MAX_HEAD_BYTES = 64 * 1024  # a status line and headers larger than this are malformed
MAX_CACHED_URLS = 1024


class LeanError(Exception):
    """A request through ``LeanClient`` that got no usable answer; ``kind`` is the gateway's kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class NotSent(LeanError):
    """Nothing of the request left this process (refused, DNS, TLS handshake, connect timeout)."""


class NoAnswer(LeanError):
    """The request was written but no whole answer came back: the receiver may have acted on it."""


class _Reply:
    """The parsed answer: status, headers, body (what ``PostReply`` is built from)."""

    __slots__ = ("body", "headers", "keep_alive", "status")

    def __init__(self, status: int, headers: CIMultiDict[str], body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


class _Connection(asyncio.Protocol):
    """One persistent connection: writes a request, parses its answer into ``waiter``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout_s: float) -> None:
        self.loop = loop
        self.read_timeout_s = read_timeout_s
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buf = bytearray()
        self._waiter: asyncio.Future[_Reply] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_data = 0.0
        self._head: tuple[int, CIMultiDict[str], bool] | None = None
        self._length = -1  # Content-Length; -1: chunked or until close (see _chunked)
        self._chunked = False
        self._chunks: list[bytes] = []
        self._encoding = ""

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if (
            self._waiter is None or self._waiter.done()
        ):  # bytes nobody asked for: the connection cannot be trusted
            self._abort()
            return
        self._buf += data
        self._last_data = self.loop.time()
        try:
            reply = self._parse()
        except NoAnswer as exc:
            self._fail(exc)
            return
        if reply is not None:
            self._finish(reply)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head is not None and not self._chunked and self._length < 0 and exc is None:
            status, headers, _ = self._head  # a body delimited by the close: it is whole now
            self._finish(_Reply(status, headers, self._decoded(bytes(self._buf)), False))
            return
        got = "mid-answer" if self._buf or self._head is not None else "before any answer"
        reason = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        self._fail(NoAnswer("connection", f"connection closed {got}{reason}"))

    # -- one exchange -----------------------------------------------------------------------------
    async def exchange(self, request: bytes) -> _Reply:
        """Write ``request`` in one go and wait for its whole answer."""
        assert self.transport is not None
        waiter: asyncio.Future[_Reply] = self.loop.create_future()
        self._waiter = waiter
        self._head = None
        self._buf.clear()
        self._last_data = self.loop.time()
        self._timer = self.loop.call_at(self._last_data + self.read_timeout_s, self._check_timeout)
        self.transport.write(request)
        try:
            return await waiter
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _check_timeout(self) -> None:
        due = self._last_data + self.read_timeout_s
        if self.loop.time() < due:  # bytes came since the timer was set: wait for the rest
            self._timer = self.loop.call_at(due, self._check_timeout)
            return
        self._timer = None
        self._fail(NoAnswer("timeout", f"no answer within {self.read_timeout_s:g} s"))

    def _finish(self, reply: _Reply) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)
        if not reply.keep_alive or self._buf:  # leftovers after an answer: do not reuse
            self._abort()

    def _fail(self, exc: LeanError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self._abort()

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing ----------------------------------------------------------------------------------
    def _parse(self) -> _Reply | None:
        buf = self._buf
        while self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD_BYTES:
                    raise NoAnswer("connection", "malformed answer: headers too large")
                return None
            head = bytes(buf[:end])
            del buf[: end + 4]
            parsed = self._parse_head(head)
            if parsed is not None:
                self._head = parsed
        status, headers, keep_alive = self._head
        if self._chunked:
            return self._parse_chunks(status, headers, keep_alive)
        if self._length < 0:
            return None  # until the connection closes
        if len(buf) < self._length:
            return None
        body = bytes(buf[: self._length])
        del buf[: self._length]
        return _Reply(status, headers, self._decoded(body), keep_alive)

    def _parse_head(self, head: bytes) -> tuple[int, CIMultiDict[str], bool] | None:
        """Status line and headers; None for a 1xx (skipped, its real answer follows)."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise NoAnswer("connection", f"malformed answer: status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers: CIMultiDict[str] = CIMultiDict()
        length = -1
        chunked = False
        keep_alive = parts[0] != b"HTTP/1.0"
        encoding = ""
        for line in lines[1:]:
            name, sep, raw = line.partition(b":")
            if not sep or not name or name[0] in b" \t" or name[-1] in b" \t":
                raise NoAnswer("connection", f"malformed answer: header line {line[:80]!r}")
            key = name.decode("latin-1")
            value = raw.strip(b" \t").decode("latin-1")
            headers.add(key, value)
            lowered = key.lower()
            if lowered == "content-length":
                if not value.isdigit() or (length >= 0 and int(value) != length):
                    raise NoAnswer("connection", f"malformed answer: Content-Length {value!r}")
                length = int(value)
            elif lowered == "transfer-encoding":
                codings = [c.strip().lower() for c in value.split(",")]
                if codings[-1] != "chunked" or any(c not in ("chunked", "identity") for c in codings):
                    raise NoAnswer("connection", f"unsupported Transfer-Encoding {value!r}")
                chunked = True
            elif lowered == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
            elif lowered == "content-encoding":
                encoding = value.strip().lower()
        if 100 <= status < 200:
            return None
        if status in (204, 304):
            length, chunked = 0, False
        elif chunked:
            length = -1
        elif length < 0:
            keep_alive = False  # the body ends when the connection closes
        self._length = length
        self._chunked = chunked
        self._chunks = []
        self._encoding = encoding
        return status, headers, keep_alive

    def _parse_chunks(self, status: int, headers: CIMultiDict[str], keep_alive: bool) -> _Reply | None:
        buf = self._buf
        while True:
            if self._length < 0:  # expecting a chunk-size line
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise NoAnswer("connection", "malformed answer: chunk size line too long")
                    return None
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise NoAnswer("connection", f"malformed answer: chunk size {size_text[:20]!r}") from None
                if size < 0:
                    raise NoAnswer("connection", "malformed answer: negative chunk size")
                if size == 0:  # last chunk: trailers (ignored) up to an empty line
                    trailer_end = buf.find(b"\r\n\r\n", end)
                    if trailer_end < 0:
                        return None
                    del buf[: trailer_end + 4]
                    body = b"".join(self._chunks)
                    self._chunks = []
                    return _Reply(status, headers, self._decoded(body), keep_alive)
                del buf[: end + 2]
                self._length = size
            if len(buf) < self._length + 2:
                return None
            if buf[self._length : self._length + 2] != b"\r\n":
                raise NoAnswer("connection", "malformed answer: chunk not followed by CRLF")
            self._chunks.append(bytes(buf[: self._length]))
            del buf[: self._length + 2]
            self._length = -1

    def _decoded(self, body: bytes) -> bytes:
        if not body or self._encoding in ("", "identity"):
            return body
        try:
            if self._encoding in ("gzip", "x-gzip"):
                return zlib.decompress(body, 16 + zlib.MAX_WBITS)
            if self._encoding == "deflate":
                try:
                    return zlib.decompress(body)
                except zlib.error:
                    return zlib.decompress(body, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise NoAnswer("connection", f"malformed answer: bad {self._encoding} body ({exc})") from None
        return body  # an encoding we cannot undo: the bytes as they came


Origin = tuple[str, str, int]  # scheme, host, port


class _Target:
    """A URL split once: where to connect and the request's first bytes."""

    __slots__ = ("origin", "prefix")

    def __init__(self, origin: Origin, prefix: bytes) -> None:
        self.origin = origin
        self.prefix = prefix


class LeanClient:
    """POSTs bytes over pooled HTTP/1.1 keep-alive connections (one request in flight per connection).

    ``connections`` bounds the requests in flight (and so the busy connections); idle ones are
    reused newest first and dropped after ``keepalive_s``. ``verify``: True (the system's CAs),
    False (no certificate check, for local tests), or an ``ssl.SSLContext`` to use as is.
    """

    def __init__(
        self,
        *,
        connections: int = 32,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
        keepalive_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | ssl.SSLContext = True,
        fallback: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        self.connections = connections
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.keepalive_s = keepalive_s
        default_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._defaults = _checked(default_headers)
        self._default_lower = {k.lower() for k in default_headers}
        self._default_head = "".join(f"{k}: {v}\r\n" for k, v in default_headers.items())
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._fallback_factory = fallback
        self._fallback: aiohttp.ClientSession | None = None
        self._targets: dict[str, _Target | None] = {}
        self._idle: dict[Origin, list[_Connection]] = {}
        self._limit = asyncio.Semaphore(connections)
        self._open: set[_Connection] = set()
        self.closed = False

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection (and the fallback session, if one was made)."""
        self.closed = True
        for conn in list(self._open):
            if conn.transport is not None:
                conn.transport.close()
        self._open.clear()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.close()
            self._fallback = None

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if isinstance(self._verify, ssl.SSLContext):
                self._ssl = self._verify
            else:
                context = ssl.create_default_context()
                if not self._verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._ssl = context
        return self._ssl

    def handles(self, url: str) -> bool:
        """Whether ``post`` takes ``url`` (else ``fallback_session`` must)."""
        return self._target(url) is not None

    def _target(self, url: str) -> _Target | None:
        """The URL's origin and request-line bytes, or None if the fallback must take it."""
        try:
            return self._targets[url]
        except KeyError:
            pass
        target: _Target | None = None
        if url.isascii() and url.isprintable() and " " not in url:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme in ("http", "https") and parts.hostname and "@" not in parts.netloc:
                try:
                    port = parts.port or (443 if scheme == "https" else 80)
                except ValueError:
                    port = 0
                if port:
                    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                    head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    target = _Target((scheme, parts.hostname, port), head.encode("ascii"))
        if len(self._targets) >= MAX_CACHED_URLS:
            self._targets.clear()
        self._targets[url] = target
        return target

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any, bytes]:
        """POST ``body`` to ``url``; (status, case-insensitive headers, body) of the whole answer.

        Raises ``NotSent`` or ``NoAnswer``; ``ValueError`` for a URL it does not take (``handles``).
        """
        if self.closed:
            raise RuntimeError("LeanClient is closed")
        target = self._target(url)
        if target is None:
            raise ValueError(f"{url!r} is not a URL this client posts to: use fallback_session()")
        given = {k.lower() for k in headers}
        if given & self._default_lower:  # the caller overrides a default header
            defaults: Mapping[str, str] = {k: v for k, v in self._defaults.items() if k.lower() not in given}
            tail = "".join(f"{k}: {v}\r\n" for k, v in defaults.items())
        else:
            defaults, tail = self._defaults, self._default_head
        text = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + tail
        lines = len(headers) + len(defaults)  # one CR LF each: any other is inside a name or value
        if text.count("\n") != lines or text.count("\r") != lines:
            raise ValueError("a header name or value holds a line break")
        request = b"".join(
            (target.prefix, text.encode("latin-1"), b"Content-Length: %d\r\n\r\n" % len(body), body)
        )
        async with self._limit:
            conn = await self._connection(target.origin)
            try:
                reply = await conn.exchange(request)
            except BaseException:
                self._open.discard(conn)
                conn._abort()
                raise
            if reply.keep_alive and not conn.closed and not self.closed:
                conn.idle_since = conn.loop.time()
                self._idle.setdefault(target.origin, []).append(conn)
            else:
                self._open.discard(conn)
            return reply.status, reply.headers, reply.body

    async def _connection(self, origin: Origin) -> _Connection:
        """A usable idle connection to ``origin`` (newest first), or a new one."""
        idle = self._idle.get(origin)
        if idle:
            now = idle[-1].loop.time()
            while idle:
                conn = idle.pop()
                transport = conn.transport
                if (
                    not conn.closed
                    and transport is not None
                    and not transport.is_closing()
                    and now - conn.idle_since < self.keepalive_s
                ):
                    return conn
                self._open.discard(conn)
                if transport is not None:
                    transport.close()
        return await self._connect(origin)

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        context = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, self.read_timeout_s),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            raise NotSent(
                "timeout", f"no connection to {host}:{port} within {self.connect_timeout_s:g} s"
            ) from None
        except ssl.SSLError as exc:
            raise NotSent("connection", f"TLS with {host}:{port} failed: {exc}") from None
        except OSError as exc:  # refused, unreachable, DNS (socket.gaierror)
            raise NotSent("connection", f"cannot connect to {host}:{port}: {exc}") from None
        self._open.add(conn)
        return conn

    def fallback_session(self) -> aiohttp.ClientSession:
        """The aiohttp session for what this client does not handle (made on first use)."""
        if self._fallback is None:
            factory = self._fallback_factory or (
                lambda: aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
            )
            self._fallback = factory()
        return self._fallback


def _checked(headers: Mapping[str, str]) -> Mapping[str, str]:
    for key, value in headers.items():
        if any(c in key or c in value for c in "\r\n"):
            raise ValueError(f"header {key!r} holds a line break")
    return headers
