"""Email over SMTP (aiosmtplib): connections reused for many messages, per-recipient verdicts.

Each message is ``multipart/alternative`` (text + HTML) with a ``Message-ID`` derived from the
ledger row's idempotency key, ``List-Unsubscribe`` (mailto and HTTPS) with
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), the sender's postal address in
the footer, and the approved assets attached. Replies map to verdicts:

* 250 -> sent; 421/450/451/452 (and a connection lost before DATA) -> transient, reconnect;
* 550 with 5.1.1 (unknown user) -> permanent, the address is suppressed; other 5xx -> permanent;
* a connection lost after the message body went out -> unknown (it may have been delivered);
* 535 (authentication refused) -> ``ChannelHalt``: the campaign stops with a message naming the settings.

When the server advertises PIPELINING (RFC 2920; real relays do), MAIL, RCPT and DATA go out in
one write and their three replies are read together, then, on 354, the content: two exchanges a
message instead of four (``smtp_pipelining.py``). The verdicts are the same: the first refusal
decides and the content is not sent; a connection lost before the content went out is transient.
"""

from __future__ import annotations

import asyncio
import binascii
import mimetypes
import re
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache
from pathlib import Path

import aiosmtplib
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

from aicmo.settings import PublishingSettings
from aicmo.tasks.gateway import TokenBucket
from aicmo.tasks.publishing.channels.base import ChannelHalt, Envelope, Pacer, Verdict
from aicmo.tasks.publishing.channels.smtp_pipelining import (
    PipeliningProtocol,
    data_content,
    enable_pipelining,
)

TRANSIENT_CODES = frozenset({421, 450, 451, 452})
_HARD_BOUNCE = re.compile(r"\b5\.1\.[0-9]\b")


@lru_cache(maxsize=16)
def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def _command_address(address: str) -> bytes | None:
    """``<address>`` for MAIL/RCPT when ``address`` is a plain ASCII addr-spec, else None.

    Such an address is what aiosmtplib's ``quote_address`` would send after parsing it (no
    display name, comment or quoting to strip, nothing that could end the command line), so
    the parse is skipped; anything else goes through ``SMTP.mail``/``SMTP.rcpt``.
    """
    return f"<{address}>".encode("ascii") if _PLAIN_ADDRESS.fullmatch(address) else None


def _recipient_refused(reply: SMTPResponse, address: str) -> aiosmtplib.SMTPRecipientRefused | None:
    """RCPT TO's refusal, as ``SMTP.rcpt`` raises it; None when accepted (250 or 251)."""
    if reply.code in (SMTPStatus.completed, SMTPStatus.will_forward):
        return None
    return aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, address)


def footer_text(postal_address: str, unsubscribe_url: str) -> str:
    """The plain-text footer every campaign email carries."""
    return f"\n\n--\n{postal_address}\nUnsubscribe: {unsubscribe_url}\n"


def footer_html(postal_address: str, unsubscribe_url: str, open_url: str) -> str:
    """The HTML footer (escaped), with the open pixel."""
    from html import escape

    pixel = f'<img src="{escape(open_url)}" width="1" height="1" alt="">' if open_url else ""
    return (
        '<hr><p style="font-size:12px;color:#666">'
        f'{escape(postal_address)}<br><a href="{escape(unsubscribe_url)}">Unsubscribe</a></p>{pixel}'
    )


def build_email(envelope: Envelope, settings: PublishingSettings) -> EmailMessage:
    """The MIME message of one envelope."""
    rendered = envelope.message
    domain = _domain(settings.mail_from)
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = settings.mail_from
    msg["To"] = envelope.address
    msg["Subject"] = rendered.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{envelope.idempotency_key[:40]}@{domain}>"
    mailto = f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe-{envelope.idempotency_key[:40]}"
    if envelope.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{mailto}>, <{envelope.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    else:
        msg["List-Unsubscribe"] = f"<{mailto}>"
    msg["X-Campaign-Id"] = str(envelope.campaign_id)
    text = (rendered.text or "") + footer_text(settings.postal_address, envelope.unsubscribe_url or mailto)
    msg.set_content(text)
    if rendered.html:
        msg.add_alternative(
            rendered.html
            + footer_html(settings.postal_address, envelope.unsubscribe_url or mailto, envelope.open_url),
            subtype="html",
        )
    for asset in envelope.assets:
        path = Path(asset.path)
        mime = asset.mime_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=asset.name or path.name
        )
    return msg


_CRLF_RE = re.compile(r"[\r\n]+")


def _header_value(value: str) -> str:
    """A header value on one line; RFC 2047 encoded when it is not ASCII (no header injection)."""
    value = _CRLF_RE.sub(" ", value)
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=998)


def _qp(text: str) -> bytes:
    """The quoted-printable body of a text part, CRLF line ends (binascii's C encoder)."""
    raw = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    return binascii.b2a_qp(raw, istext=True, header=False)


def email_bytes(envelope: Envelope, settings: PublishingSettings) -> bytes:
    """The wire form of one envelope's message.

    Without attachments the multipart/alternative message is assembled directly (headers on
    one line each, RFC 2047 where needed, quoted-printable bodies): the stdlib's header
    registry and generator cost more per message than the SMTP round trips. With attachments
    the stdlib ``EmailMessage`` builds it (``build_email``).
    """
    if envelope.assets:
        return build_email(envelope, settings).as_bytes()
    rendered = envelope.message
    domain = _domain(settings.mail_from)
    mailto = f"mailto:{settings.unsubscribe_mailto}?subject=unsubscribe-{envelope.idempotency_key[:40]}"
    unsubscribe = envelope.unsubscribe_url or mailto
    boundary = f"=_aicmo_{envelope.idempotency_key[:24]}"
    headers = [
        f"From: {_header_value(settings.mail_from)}",
        f"To: {_header_value(envelope.address)}",
        f"Subject: {_header_value(rendered.subject)}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: <{envelope.idempotency_key[:40]}@{domain}>",
        f"List-Unsubscribe: <{mailto}>"
        + (f",\r\n <{_CRLF_RE.sub('', envelope.unsubscribe_url)}>" if envelope.unsubscribe_url else ""),
    ]
    if envelope.unsubscribe_url:
        headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    headers += [f"X-Campaign-Id: {envelope.campaign_id}", "MIME-Version: 1.0"]
    text = (rendered.text or "") + footer_text(settings.postal_address, unsubscribe)
    text_part = (
        b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        + _qp(text)
    )
    if not rendered.html:
        return ("\r\n".join(headers) + "\r\n").encode() + text_part + b"\r\n"
    html = rendered.html + footer_html(settings.postal_address, unsubscribe, envelope.open_url)
    html_part = (
        b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        + _qp(html)
    )
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    b = boundary.encode()
    return b"".join(
        (
            ("\r\n".join(headers) + "\r\n\r\n").encode(),
            b"--" + b + b"\r\n",
            text_part,
            b"\r\n--" + b + b"\r\n",
            html_part,
            b"\r\n--" + b + b"--\r\n",
        )
    )


def _sender_address(settings: PublishingSettings) -> str:
    name, address = parseaddr(settings.mail_from)
    return address or formataddr((name, settings.mail_from))


class EmailChannel:
    """SMTP delivery over one reused connection, paced by a per-campaign rate limit."""

    name = "email"

    def __init__(self, settings: PublishingSettings, *, rate_per_s: float | None = None) -> None:
        self.settings = settings
        self.lanes = settings.smtp_connections
        self._smtp: list[aiosmtplib.SMTP | None] = [None] * self.lanes
        self._pipelines: list[PipeliningProtocol | None] = [None] * self.lanes
        self.pacer: Pacer = TokenBucket(rate_per_s or settings.rate_limit_per_s)
        self._envelope_from = _sender_address(settings)
        self._mail_from = _command_address(self._envelope_from)
        self.connections_opened = 0
        self.messages_pipelined = 0  # messages whose MAIL, RCPT and DATA went out in one write

    async def open(self) -> None:
        """Nothing up front: connections open with the first messages (and again after a 421)."""

    async def _connection(self, lane: int) -> aiosmtplib.SMTP:
        current = self._smtp[lane]
        if current is not None and current.is_connected:
            return current
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            start_tls=s.smtp_starttls,
            validate_certs=s.smtp_validate_certs,
        )
        try:
            await smtp.connect()
            if s.smtp_user:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                await smtp.login(s.smtp_user, password)
            if smtp.is_ehlo_or_helo_needed:  # plain connections greet lazily; the extensions are wanted now
                try:
                    await smtp.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await smtp.helo()
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise ChannelHalt(
                f"SMTP server {s.smtp_host}:{s.smtp_port} refused the login ({exc.code}): "
                "check AICMO_SMTP_USER and AICMO_SMTP_PASSWORD; the campaign is paused"
            ) from None
        except aiosmtplib.SMTPException as exc:
            smtp.close()
            if isinstance(exc, OSError) or (
                isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in TRANSIENT_CODES
            ):  # refused, dropped, 421 to EHLO: the server may be back soon
                raise
            # STARTTLS or AUTH not offered, TLS refused: retrying cannot help, the settings must change
            raise ChannelHalt(
                f"SMTP server {s.smtp_host}:{s.smtp_port}: {exc}; check AICMO_SMTP_STARTTLS, "
                "AICMO_SMTP_USER and the server's TLS/AUTH configuration; the campaign is paused"
            ) from None
        self._smtp[lane] = smtp
        self._pipelines[lane] = enable_pipelining(smtp)
        self.connections_opened += 1
        return smtp

    def _drop(self, lane: int) -> None:
        current = self._smtp[lane]
        if current is not None:
            current.close()
        self._smtp[lane] = None
        self._pipelines[lane] = None

    async def send(self, envelopes: list[Envelope]) -> list[Verdict]:
        """Send the window over ``smtp_connections`` reused connections, each message in turn on its lane.

        With two lanes one message is being built while the other waits for the server's reply.
        """
        verdicts: list[Verdict | None] = [None] * len(envelopes)
        lanes = max(1, min(self.lanes, len(envelopes)))
        halts: list[ChannelHalt] = []

        async def lane(k: int) -> None:
            for i in range(k, len(envelopes), lanes):
                if halts:
                    return
                try:
                    verdicts[i] = await self._send_one(envelopes[i], k)
                except ChannelHalt as halt:
                    halts.append(halt)
                    return

        await asyncio.gather(*(lane(k) for k in range(lanes)))
        done = [v if v is not None else Verdict.not_tried("halted") for v in verdicts]
        if halts:
            halts[0].verdicts = done
            raise halts[0]
        return done

    async def _send_one(self, envelope: Envelope, lane: int) -> Verdict:
        await self.pacer.acquire()
        try:
            body = email_bytes(envelope, self.settings)
        except OSError as exc:
            return Verdict.permanent(f"attachment unreadable: {exc}", "bad_attachment")
        try:
            smtp = await self._connection(lane)
        except ChannelHalt:
            raise
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop(lane)
            return Verdict.transient(f"connect: {type(exc).__name__}: {exc}")
        pipeline = self._pipelines[lane]
        rcpt = _command_address(envelope.address)
        if pipeline is not None and self._mail_from is not None and rcpt is not None:
            return await self._send_pipelined(smtp, pipeline, envelope, rcpt, body, lane)
        # MAIL and RCPT: nothing has been handed over yet, so any failure is safe to retry.
        try:
            await self._mail_rcpt(smtp, envelope.address)
        except aiosmtplib.SMTPResponseException as exc:
            return await self._refused(smtp, exc, lane)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop(lane)
            return Verdict.transient(f"before DATA: {type(exc).__name__}: {exc}")
        try:
            response = await smtp.data(body)
        except aiosmtplib.SMTPResponseException as exc:
            return await self._refused(smtp, exc, lane)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop(lane)
            return Verdict.unknown(f"during DATA: {type(exc).__name__}: {exc}")
        return Verdict.sent(_queue_id(response.message) or f"<{envelope.idempotency_key[:40]}>")

    async def _send_pipelined(
        self,
        smtp: aiosmtplib.SMTP,
        pipeline: PipeliningProtocol,
        envelope: Envelope,
        rcpt: bytes,
        body: bytes,
        lane: int,
    ) -> Verdict:
        """MAIL, RCPT and DATA in one write (RFC 2920), then, on 354, the content in a second.

        The first refusal decides, as on the unpipelined path: the replies that follow it (a
        503 to DATA after a refused RCPT) are its consequences. Until the content is written
        nothing has been handed over, so a lost connection is safe to retry.
        """
        assert self._mail_from is not None
        timeout = self.settings.smtp_timeout_s
        self.messages_pipelined += 1
        try:
            mail, to, data = await pipeline.pipeline(
                b"MAIL FROM:" + self._mail_from + b"\r\nRCPT TO:" + rcpt + b"\r\nDATA\r\n", 3, timeout
            )
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop(lane)
            return Verdict.transient(f"before DATA: {type(exc).__name__}: {exc}")
        refusal: aiosmtplib.SMTPResponseException | None = self._sender_refused(mail) or _recipient_refused(
            to, envelope.address
        )
        if refusal is None and data.code != SMTPStatus.start_input:
            refusal = aiosmtplib.SMTPDataError(data.code, data.message)
        if refusal is not None:
            if data.code == SMTPStatus.start_input:
                # The server wants content for a transaction it refused part of: end the
                # connection rather than send any (it aborts the transaction).
                self._drop(lane)
            return await self._refused(smtp, refusal, lane)
        if not smtp.is_connected:
            self._drop(lane)
            return Verdict.transient("before DATA: connection lost after 354")
        try:
            (reply,) = await pipeline.pipeline(data_content(body), 1, timeout)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop(lane)
            return Verdict.unknown(f"during DATA: {type(exc).__name__}: {exc}")
        if reply.code != SMTPStatus.completed:
            return await self._refused(smtp, aiosmtplib.SMTPDataError(reply.code, reply.message), lane)
        return Verdict.sent(_queue_id(reply.message) or f"<{envelope.idempotency_key[:40]}>")

    async def _mail_rcpt(self, smtp: aiosmtplib.SMTP, address: str) -> None:
        """MAIL FROM and RCPT TO, raising aiosmtplib's refusals as ``SMTP.mail``/``rcpt`` do."""
        rcpt = _command_address(address)
        if self._mail_from is None or rcpt is None or smtp.is_ehlo_or_helo_needed:
            await smtp.mail(self._envelope_from)
            await smtp.rcpt(address)
            return
        refusal: aiosmtplib.SMTPResponseException | None = self._sender_refused(
            await smtp.execute_command(b"MAIL", b"FROM:" + self._mail_from)
        )
        if refusal is None:
            refusal = _recipient_refused(await smtp.execute_command(b"RCPT", b"TO:" + rcpt), address)
        if refusal is not None:
            raise refusal

    def _sender_refused(self, reply: SMTPResponse) -> aiosmtplib.SMTPSenderRefused | None:
        """MAIL FROM's refusal, as ``SMTP.mail`` raises it; None when accepted."""
        if reply.code == SMTPStatus.completed:
            return None
        return aiosmtplib.SMTPSenderRefused(reply.code, reply.message, self._envelope_from)

    async def _refused(
        self, smtp: aiosmtplib.SMTP, exc: aiosmtplib.SMTPResponseException, lane: int
    ) -> Verdict:
        detail = f"{exc.code} {exc.message}"
        if smtp.is_connected and exc.code != 421:
            try:
                await smtp.rset()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                self._drop(lane)
        else:
            self._drop(lane)
        if exc.code in TRANSIENT_CODES or 400 <= exc.code < 500:
            return Verdict.transient(detail)
        if exc.code == 535:
            raise ChannelHalt(
                f"SMTP server refused authentication ({detail}): check AICMO_SMTP_USER and AICMO_SMTP_PASSWORD"
            )
        if exc.code in (550, 551, 553) and _HARD_BOUNCE.search(exc.message or ""):
            return Verdict.permanent(detail, "hard_bounce", suppress=True)
        return Verdict.permanent(detail, "rejected")

    async def close(self) -> None:
        """Say QUIT on every connection at once (best effort)."""

        async def quit(smtp: aiosmtplib.SMTP) -> None:
            try:
                await smtp.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                smtp.close()

        open_ = [smtp for smtp in self._smtp if smtp is not None and smtp.is_connected]
        self._smtp = [None] * self.lanes
        await asyncio.gather(*(quit(smtp) for smtp in open_))


_QUEUED = re.compile(r"(?:queued as|id[=:])\s*<?([\w.@-]+)>?", re.IGNORECASE)


def _queue_id(reply: str) -> str | None:
    """The server's queue id from a 250 reply ('2.0.0 Ok: queued as 4BqX3Z1YkZz'), if it gave one."""
    match = _QUEUED.search(reply or "")
    return match.group(1) if match else None
