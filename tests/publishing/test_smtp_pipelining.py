"""ESMTP PIPELINING (RFC 2920) against a real aiosmtpd server on 127.0.0.1, and the path without it."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable

import aiosmtplib
import pytest
from aiosmtplib.response import SMTPResponse

from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.models.publishing import FAILED_PERMANENT, FAILED_TRANSIENT, SENT
from aicmo.settings import PublishingSettings
from aicmo.tasks.publishing.channels.base import Envelope, Verdict
from aicmo.tasks.publishing.channels.email import EmailChannel
from aicmo.tasks.publishing.channels.smtp_pipelining import (
    PipeliningProtocol,
    data_content,
    enable_pipelining,
)
from aicmo.tasks.publishing.templates import Rendered

_DATE = re.compile(rb"^Date: [^\r\n]*\r\n", re.MULTILINE)


def envelopes(n: int, *, domain: str = "example.com") -> list[Envelope]:
    """``n`` envelopes whose bodies have lines that start with dots (stuffed on the wire) and bare LFs."""
    return [
        Envelope(
            row_id=i,
            campaign_id=7,
            contact_id=i,
            idempotency_key=f"{i:040d}",
            address=f"p{i}@{domain}",
            message=Rendered(
                channel="email",
                subject=f"Hello {i}",
                text=f"Hi {i}\n.one dot\n..two dots\n.\nend",
                html=f"<p>Hi {i}</p>\n.<b>dot</b>",
            ),
            unsubscribe_url=f"https://t.example.com/u/{i}",
        )
        for i in range(n)
    ]


async def send_all(settings: PublishingSettings, batch: list[Envelope]) -> tuple[EmailChannel, list[Verdict]]:
    channel = EmailChannel(settings)
    try:
        return channel, await channel.send(batch)
    finally:
        await channel.close()


def fast(server: LocalSmtpServer, **overrides: object) -> PublishingSettings:
    values: dict[str, object] = {"rate_limit_per_s": 10_000, "smtp_connections": 1}
    values.update(overrides)
    return server.settings(**values)


async def test_pipelined_messages_arrive_byte_for_byte_as_unpipelined_ones() -> None:
    batch = envelopes(12)
    with LocalSmtpServer() as piped, LocalSmtpServer(pipelining=False) as plain:
        channel, verdicts = await send_all(fast(piped, smtp_connections=2), batch)
        assert [v.state for v in verdicts] == [SENT] * 12
        assert channel.messages_pipelined == 12
        channel, verdicts = await send_all(fast(plain, smtp_connections=2), batch)
        assert [v.state for v in verdicts] == [SENT] * 12
        assert channel.messages_pipelined == 0  # the server did not offer PIPELINING: the old path
        got_piped = sorted(piped.received, key=lambda r: r[1])
        got_plain = sorted(plain.received, key=lambda r: r[1])
    assert [r[:2] for r in got_piped] == [r[:2] for r in got_plain]
    assert len(got_piped) == 12
    for (_, _, a), (_, _, b) in zip(got_piped, got_plain, strict=True):
        assert _DATE.search(a) and _DATE.search(b)
        assert _DATE.sub(b"", a) == _DATE.sub(b"", b)  # only the Date header may differ (the clock)
        assert b"\r\n..two dots\r\n" in a  # the dots came back unstuffed, the same as on the old path


async def test_refused_recipient_in_a_pipelined_batch_sends_no_content_and_others_go_out() -> None:
    batch = envelopes(5)
    with LocalSmtpServer() as server:
        server.reject("p1@example.com")
        server.reject("p3@example.com", "452 4.2.2 <{address}>: Mailbox full")
        channel, verdicts = await send_all(fast(server), batch)
        received = server.received
        await asyncio.to_thread(server.wait_transactions_answered, 5)  # the refused ones were reset
    assert [v.state for v in verdicts] == [SENT, FAILED_PERMANENT, SENT, FAILED_TRANSIENT, SENT]
    assert verdicts[1].reason == "hard_bounce" and verdicts[1].suppress
    assert verdicts[3].error is not None and verdicts[3].error.startswith("452")
    assert sorted(rcpts[0] for _, rcpts, _ in received) == [
        "p0@example.com",
        "p2@example.com",
        "p4@example.com",
    ]
    assert channel.messages_pipelined == 5 and channel.connections_opened == 1  # RSET, same connection


async def test_421_mid_stream_reconnects_and_the_rest_go_out() -> None:
    batch = envelopes(6)
    with LocalSmtpServer() as server:
        server.fail_mail("421 4.3.2 Service shutting down", times=1)
        server.fail_data("451 4.3.0 Temporary local problem", times=1)
        channel, verdicts = await send_all(fast(server), batch)
        received = server.received
    # the first MAIL gets the 421: no content, connection dropped; the next message reconnects;
    # its content is refused with 451 after it went out (transient, as unpipelined)
    assert [v.state for v in verdicts] == [FAILED_TRANSIENT, FAILED_TRANSIENT] + [SENT] * 4
    assert verdicts[0].error is not None and verdicts[0].error.startswith("421")
    assert verdicts[1].error is not None and verdicts[1].error.startswith("451")
    assert channel.connections_opened == 2
    assert sorted(rcpts[0] for _, rcpts, _ in received) == [f"p{i}@example.com" for i in range(2, 6)]


async def test_server_without_pipelining_is_sent_the_commands_one_at_a_time() -> None:
    with LocalSmtpServer(pipelining=False) as server:
        server.reject("p2@example.com")
        channel, verdicts = await send_all(fast(server), envelopes(4))
        assert server.count == 3
    assert [v.state for v in verdicts] == [SENT, SENT, FAILED_PERMANENT, SENT]
    assert channel.messages_pipelined == 0


async def test_the_local_server_answers_pipelined_commands_in_order() -> None:
    """aiosmtpd reads commands line by line: a group written at once gets its replies in order."""
    with LocalSmtpServer() as server:
        server.reject("gone@example.com")

        def talk() -> list[bytes]:
            with socket.create_connection((server.host, server.port), timeout=10) as sock:
                stream = sock.makefile("rb")
                stream.readline()
                sock.sendall(b"EHLO client.example\r\n")
                ehlo = [stream.readline()]
                while ehlo[-1][3:4] == b"-":
                    ehlo.append(stream.readline())
                assert b"250-PIPELINING\r\n" in ehlo
                sock.sendall(
                    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<gone@example.com>\r\nDATA\r\nRSET\r\n"
                    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<ok@example.com>\r\nDATA\r\n"
                )
                replies = [stream.readline()[:3] for _ in range(7)]
                sock.sendall(b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
                return [*replies, stream.readline()[:3], stream.readline()[:3]]

        replies = await asyncio.to_thread(talk)
        assert server.received == [("a@example.com", ["ok@example.com"], b"Subject: x\r\n\r\nbody\r\n")]
    assert replies == [b"250", b"550", b"503", b"250", b"250", b"250", b"354", b"250", b"221"]


async def _scripted_server(answer: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted\r\n")
        await reader.readline()  # EHLO
        writer.write(b"250-scripted\r\n250-PIPELINING\r\n250 HELP\r\n")
        await reader.readline()
        await reader.readline()
        await reader.readline()  # MAIL, RCPT, DATA
        await answer(writer)

    return await asyncio.start_server(client, "127.0.0.1", 0)


async def _pipeline_against(
    answer: Callable[[asyncio.StreamWriter], Awaitable[None]], timeout_s: float = 5.0
) -> list[SMTPResponse]:
    """The replies ``pipeline`` collects for MAIL, RCPT and DATA from a server answering with ``answer``."""
    server = await _scripted_server(answer)
    port = server.sockets[0].getsockname()[1]
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=5)
    async with server:
        await smtp.connect()
        await smtp.ehlo()
        pipeline = enable_pipelining(smtp)
        assert isinstance(pipeline, PipeliningProtocol)
        try:
            return await pipeline.pipeline(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n", 3, timeout_s)
        finally:
            smtp.close()
            server.close()


@pytest.mark.parametrize("chunks", ["one write", "byte by byte"])
async def test_replies_are_read_whether_they_come_together_or_in_pieces(chunks: str) -> None:
    replies = b"250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 more\r\n354 go on\r\n"

    async def answer(writer: asyncio.StreamWriter) -> None:
        if chunks == "one write":
            writer.write(replies)
        else:
            for i in range(len(replies)):
                writer.write(replies[i : i + 1])
                await writer.drain()
                await asyncio.sleep(0)
        await writer.drain()
        writer.close()

    got = await _pipeline_against(answer)
    assert [(r.code, r.message) for r in got] == [(250, "2.1.0 Ok"), (250, "2.1.5 Ok\nmore"), (354, "go on")]


async def _close_after_one_reply(writer: asyncio.StreamWriter) -> None:
    writer.write(b"250 Ok\r\n")
    await writer.drain()
    writer.close()


async def _go_silent_after_two_replies(writer: asyncio.StreamWriter) -> None:
    writer.write(b"250 Ok\r\n250 Ok\r\n")  # and never the third
    await writer.drain()
    await asyncio.sleep(5)


@pytest.mark.parametrize(
    ("answer", "timeout_s", "error"),
    [
        (_close_after_one_reply, 5.0, aiosmtplib.SMTPServerDisconnected),
        (_go_silent_after_two_replies, 0.3, aiosmtplib.SMTPReadTimeoutError),
    ],
    ids=["connection lost before the replies", "silent server times the group out"],
)
async def test_a_group_without_all_its_replies_raises(
    answer: Callable[[asyncio.StreamWriter], Awaitable[None]], timeout_s: float, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await _pipeline_against(answer, timeout_s)


@pytest.mark.parametrize(
    "message",
    [
        b"Subject: x\r\n\r\nplain\r\n",
        b"Subject: x\r\n\r\nno final line end",
        b"Subject: x\n\nbare LF\n.dot\n",
        b"Subject: x\r\rbare CR\r\n",
        b".first line\r\n..two\r\n.\r\nlast\r\n",
        b"mixed\r\n.a\nb\r.c\r\n",
        b"",
    ],
)
def test_data_content_is_what_aiosmtplib_sends_after_354(message: bytes) -> None:
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    assert (
        data_content(message) == PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
    )
