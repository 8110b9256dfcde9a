"""The lean keep-alive client against the real webhook receiver and small local servers that misbehave.

Every server listens on 127.0.0.1 in the test's own event loop; each case checks what the gateway's
``post`` makes of the answer (the verdict a channel would record), not the client's internals.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from aicmo.fakes.smtp_server import self_signed_context
from aicmo.fakes.webhook_receiver import SECRET, WebhookReceiver
from aicmo.settings import GatewaySettings
from aicmo.tasks.gateway import LeanClient, PostFailed, make_lean_client, post

FAST = GatewaySettings(backoff_base_s=0.01, backoff_max_s=0.05, max_attempts=3, timeout_s=1.0)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Counts:
    """Connections accepted and requests read by a local server."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[bytes, dict[str, str], bytes]] = []


async def read_request(reader: asyncio.StreamReader, counts: Counts) -> bool:
    """Read one request (head and Content-Length body); False at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    lines = head[:-4].split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    counts.requests.append((lines[0], headers, body))
    return True


@asynccontextmanager
async def local_server(
    handler: Handler, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, Counts]]:
    """A server on 127.0.0.1 running ``handler(reader, writer, request_number)`` per request."""
    counts = Counts()
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            while await read_request(reader, counts):
                await handler(reader, writer, len(counts.requests))
                if writer.is_closing():
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    port = srv.sockets[0].getsockname()[1]
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}/hooks", counts
    finally:
        srv.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def answer(status: str, body: bytes = b"", *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    writer.write(answer("200 OK", b'{"n": %d}' % n, "Content-Type: application/json"))


async def send(client: LeanClient, url: str, **kw: object) -> tuple[int, bytes]:
    reply = await post(client, url, provider="t", settings=FAST, content=b'{"a":1}', **kw)  # type: ignore[arg-type]
    return reply.status_code, reply.content


async def test_signed_webhooks_reach_the_real_receiver_over_one_kept_alive_connection() -> None:
    signer = Webhook(SECRET)
    with WebhookReceiver() as receiver:
        async with make_lean_client(FAST, connections=4) as client:
            for i in range(20):
                now = datetime.now(UTC)
                body = json.dumps({"type": "t", "timestamp": now.isoformat(), "data": {"i": i}})
                headers = {
                    "webhook-id": f"msg_{i}",
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": signer.sign(f"msg_{i}", now, body),
                    "Content-Type": "application/json",
                }
                reply = await post(
                    client,
                    receiver.url,
                    provider="webhook",
                    settings=FAST,
                    content=body.encode(),
                    headers=headers,
                )
                assert reply.status_code == 204
            assert len(client._open) == 1  # one after another: the same connection every time
        assert receiver.rejected == 0
        assert sorted(receiver.deliveries) == sorted(f"msg_{i}" for i in range(20))
        assert receiver.deliveries["msg_7"]["data"] == {"i": 7}


async def test_a_bad_signature_is_answered_401_with_its_body() -> None:
    with WebhookReceiver() as receiver:
        async with make_lean_client(FAST) as client:
            status, body = await send(client, receiver.url, headers={"webhook-id": "x"})
    assert (status, body) == (401, b"bad signature")


async def test_requests_carry_host_length_user_agent_and_the_callers_headers() -> None:
    async with local_server(ok) as (url, counts), make_lean_client(FAST) as client:
        status, body = await send(client, url + "?a=1", headers={"X-Test": "yes", "User-Agent": "mine/1"})
    assert (status, json.loads(body)) == (200, {"n": 1})
    line, headers, sent = counts.requests[0]
    assert line == b"POST /hooks?a=1 HTTP/1.1"
    assert headers["host"] == url.split("/")[2]
    assert headers["content-length"] == "7" and sent == b'{"a":1}'
    assert headers["x-test"] == "yes" and headers["user-agent"] == "mine/1"


async def test_chunked_answers_are_joined_and_the_connection_reused() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        writer.write(b"5;ext=1\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)  # the rest in a later packet
        trailer = b"X-Trailer: t\r\n" if n == 1 else b""  # the second answer has none
        writer.write(b"1\r\n \r\n6\r\nworld%d\r\n0\r\n%s\r\n" % (n, trailer))

    async with local_server(chunked) as (url, counts), make_lean_client(FAST) as client:
        assert await send(client, url) == (200, b"hello world1")
        assert await send(client, url) == (200, b"hello world2")
    assert counts.connections == 1


async def test_connection_close_answers_are_read_and_the_next_request_opens_a_new_connection() -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(answer("200 OK", b"bye", "Connection: close"))
        await writer.drain()
        writer.close()

    async with local_server(close) as (url, counts), make_lean_client(FAST) as client:
        assert await send(client, url) == (200, b"bye")
        assert await send(client, url) == (200, b"bye")
    assert counts.connections == 2


async def test_a_body_delimited_by_the_close_and_a_100_continue_are_understood() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 202 Accepted\r\nX-A: 1\r\n\r\nqueued " + b"x" * 5000
        )
        await writer.drain()
        writer.close()

    async with local_server(until_close) as (url, _), make_lean_client(FAST) as client:
        reply = await post(client, url, provider="t", settings=FAST, content=b"{}")
    assert reply.status_code == 202 and reply.content == b"queued " + b"x" * 5000
    assert reply.headers["x-a"] == "1"


async def test_an_idle_connection_the_server_closed_is_not_used_again() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(answer("200 OK", b"ok"))  # keep-alive promised, then closed while idle
        await writer.drain()
        writer.close()

    async with local_server(once) as (url, counts), make_lean_client(FAST) as client:
        assert await send(client, url) == (200, b"ok")
        await asyncio.sleep(0.05)
        assert await send(client, url) == (200, b"ok")
    assert counts.connections == 2 and len(counts.requests) == 2


async def test_a_close_mid_answer_may_have_arrived_and_is_retried_only_with_an_honoured_key() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n <= 2:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            await writer.drain()
            writer.close()
        else:
            await ok(reader, writer, n)

    async with local_server(cut) as (url, counts), make_lean_client(FAST) as client:
        with pytest.raises(PostFailed) as info:
            await send(client, url)
        assert info.value.kind == "connection" and info.value.may_have_arrived is True
        assert "mid-answer" in str(info.value)
        assert len(counts.requests) == 1
        assert await send(client, url, key_honoured=True, idempotency_key="k") == (200, b'{"n": 3}')
    assert len(counts.requests) == 3


async def test_429_and_503_with_retry_after_are_waited_and_retried() -> None:
    async def limited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            writer.write(answer("429 Too Many Requests", b"", "Retry-After: 0.2"))
        elif n == 2:
            writer.write(answer("503 Service Unavailable", b"busy", "Retry-After: 0"))
        else:
            await ok(reader, writer, n)

    async with local_server(limited) as (url, counts), make_lean_client(FAST) as client:
        started = time.monotonic()
        assert await send(client, url, key_honoured=True) == (200, b'{"n": 3}')
        assert time.monotonic() - started >= 0.2  # the 429's Retry-After was honoured
    assert len(counts.requests) == 3 and counts.connections == 1


async def test_a_server_that_never_answers_times_out_as_may_have_arrived() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await asyncio.sleep(5)

    quick = FAST.model_copy(update={"timeout_s": 0.3})
    async with local_server(silent) as (url, counts), make_lean_client(quick) as client:
        started = time.monotonic()
        with pytest.raises(PostFailed) as info:
            await post(client, url, provider="t", settings=quick, content=b"{}")
        assert 0.3 <= time.monotonic() - started < 2.0
    assert info.value.kind == "timeout" and info.value.may_have_arrived is True
    assert len(counts.requests) == 1  # the key is not honoured: not sent again


async def test_an_answer_that_keeps_trickling_in_is_not_cut_by_the_idle_timeout() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        for ch in b"slow!":
            await asyncio.sleep(0.1)
            writer.write(bytes([ch]))

    quick = FAST.model_copy(update={"timeout_s": 0.25})
    async with local_server(slow) as (url, _), make_lean_client(quick) as client:
        reply = await post(client, url, provider="t", settings=quick, content=b"{}")
    assert reply.content == b"slow!"


async def test_a_malformed_answer_is_no_answer() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"SMTP ready\r\n\r\n")

    async with local_server(garbage) as (url, _), make_lean_client(FAST) as client:
        with pytest.raises(PostFailed) as info:
            await send(client, url)
    assert info.value.may_have_arrived is True and "malformed answer" in str(info.value)


async def test_connection_refused_is_never_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with make_lean_client(FAST) as client:
        with pytest.raises(PostFailed) as info:
            await send(client, f"http://127.0.0.1:{port}/hooks", key_honoured=True)
    assert info.value.kind == "connection" and info.value.may_have_arrived is False


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    async with local_server(ok) as (url, counts), make_lean_client(FAST) as client:
        with pytest.raises(ValueError, match="line break"):
            await send(client, url, headers={"X-A": "1\r\nX-Injected: 2"})
    assert counts.requests == []


async def test_tls_with_a_self_signed_certificate_is_refused_unless_verification_is_off(
    tmp_path: Path,
) -> None:
    async with local_server(ok, tls=self_signed_context(tmp_path)) as (url, counts):
        async with make_lean_client(FAST) as client:
            with pytest.raises(PostFailed) as info:
                await send(client, url.replace("127.0.0.1", "localhost"))
        assert info.value.kind == "connection" and info.value.may_have_arrived is False
        assert "certificate" in str(info.value).lower()
        async with LeanClient(verify=False) as insecure:
            assert await send(insecure, url) == (200, b'{"n": 1}')
            assert await send(insecure, url) == (200, b'{"n": 2}')
    assert counts.connections == 1


async def test_a_url_with_credentials_goes_through_the_aiohttp_fallback() -> None:
    async with local_server(ok) as (url, counts), make_lean_client(FAST) as client:
        assert await send(client, url.replace("://", "://user:pw@")) == (200, b'{"n": 1}')
    assert counts.requests[0][1]["authorization"].startswith("Basic ")
