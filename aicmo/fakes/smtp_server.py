"""A local SMTP server (aiosmtpd) on 127.0.0.1 that records what it accepts, with faults on demand.

Used by the demo and the tests as the real thing a campaign's email goes to::

    with LocalSmtpServer() as smtp:           # ephemeral port, own thread and event loop
        settings = smtp.settings()            # PublishingSettings pointing at it
        smtp.reject("gone@example.com")       # 550 5.1.1 for this recipient
        LocalSmtpServer(pipelining=False)     # EHLO without PIPELINING (offered by default)
        smtp.stop_after(3)                    # after 3 accepted messages: 421 to everything
        smtp.restart()                        # stop the listener and start it again, same port
        smtp.received                         # [(mail_from, rcpt_tos, data bytes), ...]
        smtp.arrivals                         # time.monotonic() of each accepted message

``python -m aicmo.fakes.smtp_server`` runs it in the foreground (a benchmark runs it as a
separate process); it prints ``port N`` once listening and the message count when stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import logging
import signal
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from aicmo.fakes.background import BackgroundLoop
from aicmo.settings import PublishingSettings


class _QuietLoginData(logging.Filter):
    """Drops aiosmtpd 1.4's deprecation warning, which it logs on every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_QuietLoginData())


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for localhost (written to ``folder``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


class RecordingHandler:
    """aiosmtpd handler: records accepted messages and applies the scripted faults."""

    def __init__(self, *, keep_bodies: bool = True, pipelining: bool = True) -> None:
        self.keep_bodies = keep_bodies
        self.pipelining = pipelining
        self.lock = threading.Lock()
        self.received: list[tuple[str, list[str], bytes]] = []
        self.count = 0
        self.arrivals: list[float] = []  # time.monotonic() when each accepted message's DATA ended
        self.rejected: dict[str, str] = {}
        self.down = False
        self.accept_limit: int | None = None
        self.limit_reached = threading.Event()
        self.data_faults: list[str] = []  # replies for the next DATA commands ("451 ...", "drop")
        self.mail_faults: list[str] = []  # replies for the next MAIL commands
        self.open_sessions: set[int] = set()  # sessions between an accepted MAIL and DATA's reply or RSET

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd's EHLO reply, plus ``PIPELINING`` (RFC 2920) as real relays advertise it.

        aiosmtpd reads commands one line at a time from a buffered stream and answers each in
        turn, so commands sent together are answered in order (tests/publishing checks it).
        """
        session.host_name = hostname  # what aiosmtpd's own EHLO sets when no hook takes over
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        with self.lock:
            if self.down:
                return "421 4.3.2 Service not available, closing transmission channel"
            if self.mail_faults:
                return self.mail_faults.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        with self.lock:
            self.open_sessions.add(id(session))
        return "250 OK"

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.open_sessions.discard(id(session))
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.rejected.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.open_sessions.discard(id(session))  # answered now, whatever the answer
            if self.down:
                return "421 4.3.2 Service not available, closing transmission channel"
            fault = self.data_faults.pop(0) if self.data_faults else None
        if fault == "drop":  # the body arrived; the answer never does
            transport = server.transport
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            return "250 OK"
        if fault is not None:
            return fault
        data = (
            bytes(envelope.content or b"")
            if isinstance(envelope.content, bytes)
            else str(envelope.content).encode()
        )
        with self.lock:
            self.count += 1
            if self.keep_bodies:
                self.arrivals.append(time.monotonic())
            queue_id = f"Q{self.count:08d}"
            if self.keep_bodies:
                self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), data))
            if self.accept_limit is not None and self.count >= self.accept_limit:
                self.down = True
                self.limit_reached.set()
        return f"250 2.0.0 Ok: queued as {queue_id}"


class LocalSmtpServer:
    """The recording server on a background thread; a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: tuple[str, str] | None = None,
        tls_context: Any = None,
        keep_bodies: bool = True,
        require_starttls: bool = True,
        pipelining: bool = True,
    ) -> None:
        self.require_starttls = require_starttls
        self.host = host
        self.port = port
        self.credentials = credentials
        self.tls_context = tls_context
        self.handler = RecordingHandler(keep_bodies=keep_bodies, pipelining=pipelining)
        self._background: BackgroundLoop | None = None
        self._server: asyncio.base_events.Server | None = None

    # ---- lifecycle ------------------------------------------------------------------------------
    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if self.credentials is None:
            return AuthResult(success=True)
        if isinstance(data, LoginPassword):
            ok = (data.login.decode(), data.password.decode()) == self.credentials
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    def _factory(self) -> SMTP:
        kwargs: dict[str, Any] = {"hostname": "aicmo.local", "ident": "AICMO local SMTP"}
        if self.credentials is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.tls_context is not None,
            )
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=self.require_starttls)
        return SMTP(self.handler, **kwargs)

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> LocalSmtpServer:
        """Start listening (on the port of a previous start, if any)."""
        if self._background is None:
            self._background = BackgroundLoop("local-smtp")
        self._background.run(self._listen(), 10)
        return self

    def stop_listening(self) -> None:
        """Close the listener and drop every open connection (the server is 'down')."""
        if self._background is None or self._server is None:
            return
        server = self._server

        async def close() -> None:
            server.close()
            if hasattr(server, "close_clients"):
                server.close_clients()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)

        self._background.run(close(), 10)
        self._server = None

    def restart(self) -> None:
        """Come back up on the same port, accepting again."""
        self.stop_listening()
        with self.handler.lock:
            self.handler.down = False
            self.handler.accept_limit = None
            self.handler.limit_reached.clear()
        self.start()

    def close(self) -> None:
        """Stop for good."""
        self.stop_listening()
        if self._background is not None:
            self._background.close()
            self._background = None

    def __enter__(self) -> LocalSmtpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- scripting ------------------------------------------------------------------------------
    def settings(self, **overrides: Any) -> PublishingSettings:
        """Publishing settings that send to this server."""
        values: dict[str, Any] = {"smtp_host": self.host, "smtp_port": self.port, "smtp_starttls": False}
        if self.credentials is not None:
            values.update(smtp_user=self.credentials[0], smtp_password=self.credentials[1])
        values.update(overrides)
        return PublishingSettings(**values)

    def reject(
        self, address: str, reply: str = "550 5.1.1 <{address}>: Recipient address rejected: User unknown"
    ) -> None:
        """Refuse ``address`` at RCPT with ``reply`` (default: 550 5.1.1, a hard bounce)."""
        self.handler.rejected[address.lower()] = reply.format(address=address)

    def wait_transactions_answered(self, timeout_s: float = 30.0) -> None:
        """Wait until every transaction past MAIL has had its DATA answered (or was reset), so that
        dropping the connections next cuts no message in flight."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.handler.lock:
                if not self.handler.open_sessions:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("SMTP transactions still open")
            time.sleep(0.01)

    def stop_after(self, accepted: int) -> None:
        """After ``accepted`` messages in all, answer 421 to every MAIL/DATA until restarted."""
        with self.handler.lock:
            self.handler.accept_limit = accepted
            if self.handler.count >= accepted:
                self.handler.down = True
                self.handler.limit_reached.set()

    def fail_data(self, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` DATA commands with ``reply`` ('451 4.3.0 ...', or 'drop')."""
        with self.handler.lock:
            self.handler.data_faults.extend([reply] * times)

    def fail_mail(self, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` MAIL commands with ``reply``."""
        with self.handler.lock:
            self.handler.mail_faults.extend([reply] * times)

    # ---- reading --------------------------------------------------------------------------------
    @property
    def received(self) -> list[tuple[str, list[str], bytes]]:
        """Accepted messages so far."""
        with self.handler.lock:
            return list(self.handler.received)

    @property
    def arrivals(self) -> list[float]:
        """``time.monotonic()`` at which each accepted message arrived, in order."""
        with self.handler.lock:
            return list(self.handler.arrivals)

    @property
    def count(self) -> int:
        """How many messages were accepted."""
        with self.handler.lock:
            return self.handler.count

    def per_recipient(self) -> Counter[str]:
        """Accepted messages per recipient (a value above 1 is a duplicate)."""
        return Counter(r.lower() for _, rcpts, _ in self.received for r in rcpts)

    def messages(self) -> list[email.message.Message]:
        """The accepted messages, parsed."""
        return [email.message_from_bytes(data) for _, _, data in self.received]


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground until SIGTERM/SIGINT; print the port, then the count."""
    parser = argparse.ArgumentParser(description="Local recording SMTP server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--keep-bodies", action="store_true")
    parser.add_argument("--tls", action="store_true", help="Offer STARTTLS (self-signed certificate).")
    parser.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="Require AUTH with these credentials (after STARTTLS with --tls).",
    )
    parser.add_argument(
        "--no-pipelining", action="store_true", help="Do not advertise PIPELINING (RFC 2920) in EHLO."
    )
    args = parser.parse_args(argv)
    context = self_signed_context(Path(tempfile.mkdtemp(prefix="aicmo-smtp-"))) if args.tls else None
    user, _, password = (args.auth or "").partition(":")
    server = LocalSmtpServer(
        port=args.port,
        keep_bodies=args.keep_bodies,
        tls_context=context,
        credentials=(user, password) if args.auth else None,
        pipelining=not args.no_pipelining,
    ).start()
    print(f"port {server.port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    print(f"count {server.count}", flush=True)
    server.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
