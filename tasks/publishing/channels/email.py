"""Email over SMTP (aiosmtplib): one connection reused for many messages, per-recipient verdicts.

Each message is ``multipart/alternative`` (text + HTML) with a ``Message-ID`` derived from the
ledger row's idempotency key, ``List-Unsubscribe`` (mailto and HTTPS) with
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058), the sender's postal address in
the footer, and the approved assets attached. Replies map to verdicts:

* 250 -> sent; 421/450/451/452 (and a connection lost before DATA) -> transient, reconnect;
* 550 with 5.1.1 (unknown user) -> permanent, the address is suppressed; other 5xx -> permanent;
* a connection lost after the message body went out -> unknown (it may have been delivered);
* 535 (authentication refused) -> ``ChannelHalt``: the campaign stops with a message naming the settings.
"""

from __future__ import annotations

import mimetypes
import re
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path

import aiosmtplib

from aicmo.settings import PublishingSettings
from aicmo.tasks.gateway.ratelimit import TokenBucket
from aicmo.tasks.publishing.channels.base import ChannelHalt, Envelope, Verdict

TRANSIENT_CODES = frozenset({421, 450, 451, 452})
_HARD_BOUNCE = re.compile(r"\b5\.1\.[0-9]\b")


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


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


def _sender_address(settings: PublishingSettings) -> str:
    name, address = parseaddr(settings.mail_from)
    return address or formataddr((name, settings.mail_from))


class EmailChannel:
    """SMTP delivery over one reused connection, paced by a per-campaign rate limit."""

    name = "email"

    def __init__(self, settings: PublishingSettings, *, rate_per_s: float | None = None) -> None:
        self.settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._bucket = TokenBucket(rate_per_s or settings.rate_limit_per_s)
        self._envelope_from = _sender_address(settings)
        self.connections_opened = 0

    async def open(self) -> None:
        """Nothing up front: the connection opens with the first message (and after a 421)."""

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_s,
            start_tls=s.smtp_starttls,
            validate_certs=s.smtp_validate_certs,
        )
        await smtp.connect()
        if s.smtp_user:
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            try:
                await smtp.login(s.smtp_user, password)
            except aiosmtplib.SMTPAuthenticationError as exc:
                smtp.close()
                raise ChannelHalt(
                    f"SMTP server {s.smtp_host}:{s.smtp_port} refused the login ({exc.code}): "
                    "check AICMO_SMTP_USER and AICMO_SMTP_PASSWORD; the campaign is paused"
                ) from None
        self._smtp = smtp
        self.connections_opened += 1
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None

    async def send(self, envelopes: list[Envelope]) -> list[Verdict]:
        """Send each envelope in turn over the shared connection."""
        verdicts: list[Verdict] = []
        for index, envelope in enumerate(envelopes):
            try:
                verdicts.append(await self._send_one(envelope))
            except ChannelHalt as halt:
                halt.verdicts = [*verdicts, *(Verdict.not_tried("halted") for _ in envelopes[index:])]
                raise
        return verdicts

    async def _send_one(self, envelope: Envelope) -> Verdict:
        await self._bucket.acquire()
        try:
            body = build_email(envelope, self.settings).as_bytes()
        except OSError as exc:
            return Verdict.permanent(f"attachment unreadable: {exc}", "bad_attachment")
        try:
            smtp = await self._connection()
        except ChannelHalt:
            raise
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop()
            return Verdict.transient(f"connect: {type(exc).__name__}: {exc}")
        # MAIL and RCPT: nothing has been handed over yet, so any failure is safe to retry.
        try:
            await smtp.mail(self._envelope_from)
            await smtp.rcpt(envelope.address)
        except aiosmtplib.SMTPResponseException as exc:
            return await self._refused(smtp, exc)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop()
            return Verdict.transient(f"before DATA: {type(exc).__name__}: {exc}")
        try:
            response = await smtp.data(body)
        except aiosmtplib.SMTPResponseException as exc:
            return await self._refused(smtp, exc)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            self._drop()
            return Verdict.unknown(f"during DATA: {type(exc).__name__}: {exc}")
        return Verdict.sent(_queue_id(response.message) or f"<{envelope.idempotency_key[:40]}>")

    async def _refused(self, smtp: aiosmtplib.SMTP, exc: aiosmtplib.SMTPResponseException) -> Verdict:
        detail = f"{exc.code} {exc.message}"
        if smtp.is_connected and exc.code != 421:
            try:
                await smtp.rset()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                self._drop()
        else:
            self._drop()
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
        """Say QUIT (best effort)."""
        if self._smtp is not None and self._smtp.is_connected:
            try:
                await self._smtp.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                self._smtp.close()
        self._smtp = None


_QUEUED = re.compile(r"(?:queued as|id[=:])\s*<?([\w.@-]+)>?", re.IGNORECASE)


def _queue_id(reply: str) -> str | None:
    """The server's queue id from a 250 reply ('2.0.0 Ok: queued as 4BqX3Z1YkZz'), if it gave one."""
    match = _QUEUED.search(reply or "")
    return match.group(1) if match else None
