"""ESMTP PIPELINING (RFC 2920) on an aiosmtplib connection: several commands in one write.

aiosmtplib's protocol keeps one reply waiter: it parses one reply per ``data_received`` and drops
bytes that arrive while no command awaits a reply, so replies to commands written together
would be lost or left unparsed in its buffer. ``PipeliningProtocol`` adds one operation,
``pipeline(data, replies)``: write ``data`` (several command lines, or a message's content and
its final ``.``) and collect exactly ``replies`` replies, keeping every byte that arrives
meanwhile. Outside that operation the stock protocol behaves as before (connect, EHLO, STARTTLS,
AUTH, RSET and QUIT go through it unchanged).

``enable_pipelining`` turns the protocol of a connected ``aiosmtplib.SMTP`` into one: the
subclass adds methods and two class-level defaults, no state, so the instance keeps its own.
aiosmtplib builds its protocol inside its private connect path, which offers no hook.
"""

from __future__ import annotations

import asyncio

import aiosmtplib
from aiosmtplib.errors import SMTPReadTimeoutError, SMTPResponseException, SMTPServerDisconnected
from aiosmtplib.protocol import (
    MAX_RESPONSE_LENGTH,
    PERIOD_REGEX,
    SMTPProtocol,
    normalize_message_line_endings,
)
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus


def data_content(message: bytes) -> bytes:
    """``message`` as it goes after a 354: CRLF line ends, leading dots doubled, ending ``.\\r\\n``.

    The same transformation ``SMTP.data`` applies, so both paths put the same bytes on the wire;
    the regular expressions run only when needed (the messages built here already end their
    lines with CRLF and rarely start one with a dot): counting is cheaper than substituting.
    """
    crlf = message.count(b"\r\n")
    if not (message.endswith(b"\r\n") and message.count(b"\n") == crlf == message.count(b"\r")):
        message = normalize_message_line_endings(message)
    if message.startswith(b".") or b"\n." in message:
        message = PERIOD_REGEX.sub(b"..", message)
    return message + b".\r\n"


class PipeliningProtocol(SMTPProtocol):
    """aiosmtplib's protocol plus ``pipeline``: one write, several replies read in order."""

    _replies_wanted: int = 0
    _arrived: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        if not self._replies_wanted:
            super().data_received(data)
            return
        self._buffer.extend(data)
        self._wake(None)

    def eof_received(self) -> bool:
        self._wake(SMTPServerDisconnected("Unexpected EOF received"))
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        lost = SMTPServerDisconnected("Connection lost")
        lost.__cause__ = exc
        self._wake(lost)
        super().connection_lost(exc)

    def _wake(self, error: SMTPServerDisconnected | None) -> None:
        waiter = self._arrived
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)

    async def pipeline(self, data: bytes, replies: int, timeout: float | None) -> list[SMTPResponse]:
        """Write ``data`` at once, then read ``replies`` replies, all within ``timeout`` seconds.

        Raises ``SMTPServerDisconnected`` when the connection ends first, ``SMTPReadTimeoutError``
        when the server falls silent (the connection is then out of step: close it). One timer
        covers the whole group (``asyncio.wait_for`` around every wait costs more than a reply).
        """
        if self._command_lock is None:
            raise SMTPServerDisconnected("Server not connected")
        async with self._command_lock:
            self._replies_wanted = replies
            timer: asyncio.TimerHandle | None = None
            try:
                self.write(data)
                got: list[SMTPResponse] = []
                while len(got) < replies:
                    reply = self._read_response_from_buffer()
                    if reply is not None:
                        got.append(reply)
                        continue
                    if len(self._buffer) > MAX_RESPONSE_LENGTH:
                        raise SMTPResponseException(SMTPStatus.invalid_response.value, "Response too long")
                    if self.transport is None:
                        raise SMTPServerDisconnected("Connection lost")
                    if timer is None and timeout is not None:
                        timer = self._loop.call_later(timeout, self._time_out)
                    self._arrived = self._loop.create_future()
                    try:
                        await self._arrived
                    finally:
                        self._arrived = None
                return got
            finally:
                self._replies_wanted = 0
                if timer is not None:
                    timer.cancel()

    def _time_out(self) -> None:
        waiter = self._arrived
        if waiter is not None and not waiter.done():
            waiter.set_exception(SMTPReadTimeoutError("Timed out waiting for server response"))


def enable_pipelining(smtp: aiosmtplib.SMTP) -> PipeliningProtocol | None:
    """The connection's protocol, able to pipeline, when the server advertised PIPELINING; else None."""
    protocol = smtp.protocol
    if protocol is None or not smtp.supports_extension("pipelining"):
        return None
    if type(protocol) is SMTPProtocol:
        protocol.__class__ = PipeliningProtocol
    return protocol if isinstance(protocol, PipeliningProtocol) else None
