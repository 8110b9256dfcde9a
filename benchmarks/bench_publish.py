"""Publishing throughput with the send ledger, beside its peers, in one run.

Email: a local aiosmtpd server (``aicmo.fakes.smtp_server``) runs in a separate process, fresh
for every timed run, and counts what it accepts. By default it behaves as a real relay's
submission port does: it offers STARTTLS (a self-signed certificate, not verified by the
clients) and requires AUTH after it; ``--relay plain`` measures plain loopback without either.
On the same ``--emails`` contacts:

- ours: the campaign sender (claim a batch with a lease, render the Jinja2 templates, build the
  MIME message with List-Unsubscribe and footer, mark the hand-over window, send over reused
  aiosmtplib connections, settle the rows) on a SQLite store: ledger bookkeeping included; with
  the default settings' connections (``--connections`` adds others);
- per-message: what a simple script does: render and build the same message, then
  ``aiosmtplib.send`` it, which opens a connection, says EHLO, upgrades with STARTTLS and logs
  in when the server offers them, sends, and says QUIT, for every message. It reuses one
  ``SSLContext`` for all (building one per message would load the CA store each time). Timed on
  ``--per-message-emails`` and extrapolated (labelled so);
- ceiling: the server's own ceiling over one connection (STARTTLS and AUTH once): the messages
  pre-rendered to bytes before timing, then blasted with ``sendmail`` one after another, no
  ledger, no rendering.

Webhooks: a local receiver (``aicmo.fakes.webhook_receiver``, verifying every signature) in a
separate process; ours (sender + ledger + Standard Webhooks signing + gateway POST over the
gateway's lean keep-alive client, ``aicmo.tasks.gateway._lean``) against raw aiohttp posting the
same signed bodies with the same concurrency (``--concurrency``).

A link with latency: ``--latency-ms 0 10`` runs the email and the webhook contenders once per
value, each a stage. 0 is the direct loopback connection; N > 0 puts ``benchmarks/latency_proxy.py`` (its own
process) between every contender and the server: each chunk is delivered N ms later in each
direction (RTT 2N) and a new connection costs one RTT, as on a network to a remote relay. Those
stages use ``--latency-emails``, ``--latency-per-message-emails`` and ``--latency-webhooks`` (round
trips, not CPU, set their pace).

Before timing, each contender sends ``CHECK_MESSAGES`` messages to a fresh server, which must
accept exactly one per contact with none rejected (recorded as the benchmark's checks); every
timed run is checked the same way. Each contender runs ``--repeat`` times, interleaved; each run's
wall seconds, CPU seconds and peak memory go through ``results.py`` (the per-message peers'
scaled to the stage's size, labelled so), with messages/s and the ratios within each repeat as
notes; docs/BENCHMARKS.md is rendered from the results.

    .venv/bin/python benchmarks/bench_publish.py --emails 100000 --webhooks 100000 --repeat 3 [--relay plain]
    .venv/bin/python benchmarks/bench_publish.py --latency-ms 0 10 --emails 3000 --latency-emails 2000 ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
from pydantic import SecretStr
from results import Recorder, Run, measure, peer_versions
from standardwebhooks.webhooks import Webhook

from aicmo.fakes.webhook_receiver import SECRET
from aicmo.models.base import utcnow
from aicmo.models.crm import Consent
from aicmo.settings import PublishingSettings, TrackingSettings
from aicmo.storage.crm import contact_ids_by_email, upsert_contacts
from aicmo.storage.db import make_engine, transaction
from aicmo.storage.migrate import upgrade
from aicmo.storage.publishing import Recipient
from aicmo.storage.upsert import bulk_upsert
from aicmo.tasks.publishing.campaigns import create_campaign, schedule, start
from aicmo.tasks.publishing.channels.base import Envelope
from aicmo.tasks.publishing.channels.email import email_bytes
from aicmo.tasks.publishing.definition import CampaignDefinition, parse_definition
from aicmo.tasks.publishing.sender import send_campaign
from aicmo.tasks.publishing.templates import render_message
from aicmo.tasks.tracking.tokens import TrackingLinks

LINKS = TrackingLinks(
    TrackingSettings(base_url="https://t.example.com", keys=[SecretStr("bench-key-0123456789abcdef")])
)
EMAIL = {
    "subject": "Hello {{ contact.first_name }}, our winter range",
    "text": "Hi {{ contact.first_name }},\n\nThe winter range is out: https://shop.example.com/winter\n",
    "html": '<p>Hi {{ contact.first_name }},</p><p>The winter range is out: <a href="https://shop.example.com/winter">see it</a></p>',
}


@contextmanager
def server(module: str, *args: str) -> Iterator[tuple[int, dict[str, int]]]:
    """A fake server in its own process; yields (port, counts), counts filled in when it stops."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    port = int(line[1])
    counts: dict[str, int] = {}
    try:
        yield port, counts
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        parts = out.split()
        for key, value in zip(parts[::2], parts[1::2], strict=False):
            counts[key] = int(value)


def _store(root: Path, n: int, channels: list[str], webhook_url: str = "") -> tuple[Any, int]:
    """A SQLite store with ``n`` consenting contacts and a started campaign on ``channels``."""
    engine = make_engine(f"sqlite:///{root / 'store.db'}")
    upgrade(engine)
    rows: list[dict[str, Any]] = [
        {"email": f"c{i}@example.com", "first_name": f"Ann{i}", "tags": [], "phone": None, "country": "US"}
        for i in range(n)
    ]
    with transaction(engine) as session:
        upsert_contacts(session, rows)
        ids = list(contact_ids_by_email(session, [r["email"] for r in rows]).values())
        now = utcnow()
        bulk_upsert(
            session,
            Consent.__table__,
            [{"contact_id": c, "channel": "email", "status": "confirmed", "updated_at": now} for c in ids],
            ("contact_id", "channel"),
            ["status"],
        )
    messages: dict[str, Any] = {}
    if "email" in channels:
        messages["email"] = EMAIL
    if "webhook" in channels:
        messages["webhook"] = {"url": webhook_url, "data": {"greeting": "Hi {{ contact.first_name }}"}}
    definition = parse_definition(
        {"name": "bench", "channels": channels, "audience": {"contact_ids": ids}, "messages": messages}
    )
    campaign_id = create_campaign(engine, definition)
    schedule(engine, "bench")
    start(engine, campaign_id)
    return engine, campaign_id


RELAY = "starttls-auth"  # --relay: "starttls-auth" (as real relays ask) or "plain"
USER, PASSWORD = "bench", "bench-password-0123"


def _relay_args() -> tuple[str, ...]:
    """The SMTP server's command-line options for the relay kind."""
    return ("--tls", "--auth", f"{USER}:{PASSWORD}") if RELAY == "starttls-auth" else ()


def _client_tls() -> ssl.SSLContext:
    """One client TLS context (the server's certificate is self-signed, so it is not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _login() -> tuple[str | None, str | None]:
    """Username and password for AUTH (None when the relay does not ask)."""
    return (USER, PASSWORD) if RELAY == "starttls-auth" else (None, None)


def _settings(port: int = 25, **kw: Any) -> PublishingSettings:
    relay: dict[str, Any] = (
        {"smtp_starttls": True, "smtp_user": USER, "smtp_password": PASSWORD}
        if RELAY == "starttls-auth"
        else {"smtp_starttls": False}
    )
    return PublishingSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_validate_certs=False,
        rate_limit_per_s=1e9,
        frequency_cap=0,
        claim_batch=500,
        handover_window=50,
        webhook_secret=SECRET,
        **relay,
        **kw,
    )


# ---- email contenders -----------------------------------------------------------------------------
# Each contender prepares what it needs untimed (a store with the contacts and a started campaign,
# or the pre-rendered messages), then times only the sending with ``results.measure``.
def ours_email(n: int, port: int, connections: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        engine, campaign_id = _store(Path(tmp), n, ["email"])
        settings = _settings(port, smtp_connections=connections)
        report, run = measure(lambda: send_campaign(engine, campaign_id, settings=settings, links=LINKS))
        assert report.sent == n and report.finished, report
        engine.dispose()
        return run


def _definition() -> CampaignDefinition:
    return parse_definition(
        {
            "name": "bench",
            "channels": ["email"],
            "audience": {"contact_ids": [1]},
            "messages": {"email": EMAIL},
        }
    )


def _envelope(i: int, definition: CampaignDefinition) -> Envelope:
    """The envelope of contact ``i``: the templates rendered with its tracking links."""
    contact = Recipient(i + 1, f"c{i}@example.com", f"Ann{i}", None, None, None, None, None, None)
    link = lambda url, cid=i + 1: LINKS.click_url(1, cid, "email", url)  # noqa: E731
    return Envelope(
        row_id=i,
        campaign_id=1,
        contact_id=i + 1,
        idempotency_key=f"{i:064d}",
        address=contact.email,
        message=render_message(definition, "email", contact, link=link),
        unsubscribe_url=LINKS.unsubscribe_url(1, i + 1, "email"),
        open_url=LINKS.open_url(1, i + 1, "email"),
    )


def per_message_email(n: int, port: int, *, reuse_tls_context: bool = True) -> Run:
    """Render + build each message, then aiosmtplib.send: connection, EHLO, STARTTLS, AUTH per message.

    ``reuse_tls_context=False`` is aiosmtplib's documented default: it builds a TLS context (and
    loads the CA store) for every connection.
    """
    settings = _settings(port)
    definition = _definition()
    shared = _client_tls() if reuse_tls_context else None

    async def go() -> None:
        for i in range(n):
            envelope = _envelope(i, definition)
            await aiosmtplib.send(
                email_bytes(envelope, settings),
                sender="news@example.com",
                recipients=[envelope.address],
                hostname="127.0.0.1",
                port=port,
                tls_context=shared,  # STARTTLS whenever the server offers it (start_tls=None)
                validate_certs=False,  # the local server's certificate is self-signed
                username=_login()[0],
                password=_login()[1],
            )

    return measure(lambda: asyncio.run(go()))[1]


def ceiling_email(n: int, port: int) -> Run:
    """Pre-rendered bytes over one connection (STARTTLS and AUTH once): the server's ceiling."""
    settings = _settings(port)
    definition = _definition()
    blobs = [(e.address, email_bytes(e, settings)) for e in (_envelope(i, definition) for i in range(n))]

    async def go() -> None:
        user, password = _login()
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, tls_context=_client_tls(), username=user, password=password
        )
        await smtp.connect()
        for address, blob in blobs:
            await smtp.sendmail("news@example.com", [address], blob)
        await smtp.quit()

    return measure(lambda: asyncio.run(go()))[1]


# ---- webhook contenders ---------------------------------------------------------------------------
def ours_webhook(n: int, port: int, concurrency: int) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        engine, campaign_id = _store(Path(tmp), n, ["webhook"], f"http://127.0.0.1:{port}/hooks")
        report, run = measure(
            lambda: send_campaign(
                engine, campaign_id, settings=_settings(), links=LINKS, window=concurrency * 4, batch=2000
            )
        )
        assert report.sent == n and report.finished, report
        engine.dispose()
        return run


def raw_webhook(n: int, port: int, concurrency: int) -> Run:
    """Raw aiohttp posting the same Standard Webhooks-signed bodies, ``concurrency`` workers."""
    signer = Webhook(SECRET)
    url = f"http://127.0.0.1:{port}/hooks"

    async def go() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            items = iter(range(n))

            async def worker() -> None:
                for i in items:
                    now = datetime.now(UTC)
                    body = json.dumps(
                        {
                            "type": "campaign.message",
                            "timestamp": now.isoformat(),
                            "data": {"campaign_id": 1, "contact_id": i, "greeting": f"Hi Ann{i}"},
                        },
                        separators=(",", ":"),
                    )
                    msg_id = f"msg_{i:032d}"
                    headers = {
                        "webhook-id": msg_id,
                        "webhook-timestamp": str(int(now.timestamp())),
                        "webhook-signature": signer.sign(msg_id, now, body),
                        "Content-Type": "application/json",
                    }
                    for _ in range(4):
                        async with session.post(url, data=body, headers=headers) as r:
                            await r.read()
                            if r.status < 300:
                                break

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    return measure(lambda: asyncio.run(go()))[1]


# ---- runs, checks, records ------------------------------------------------------------------------
@contextmanager
def link(port: int, latency_ms: float) -> Iterator[int]:
    """The port a contender should use: the server's own (0 ms), or a latency proxy's in front of it."""
    if latency_ms <= 0:
        yield port
        return
    proxy = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("latency_proxy.py")),
            "--target",
            f"127.0.0.1:{port}",
            "--delay-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proxy.stdout is not None
    try:
        yield int(proxy.stdout.readline().split()[1])
    finally:
        proxy.send_signal(signal.SIGTERM)
        proxy.wait(30)


def timed(
    module: str, fn: Callable[[int], Run], n: int, latency_ms: float, *args: str
) -> tuple[Run, dict[str, int]]:
    """One run against a fresh server (through the latency proxy); checks it accepted exactly ``n``."""
    with server(module, *args) as (port, counts), link(port, latency_ms) as via:
        run = fn(via)
    assert counts.get("count") == n, f"{fn}: server accepted {counts}, expected {n}"
    assert counts.get("rejected", 0) == 0, counts
    return run, counts


def scaled(run: Run, factor: float) -> Run:
    """A run of ``m`` messages extrapolated to ``m * factor`` (wall and CPU scaled; peak memory as is)."""
    return Run(run.seconds * factor, run.cpu_seconds * factor, run.peak_rss_mb)


@dataclass
class Contender:
    """One contender of one stage: what it sends, how many it times, how many it stands for."""

    label: str
    role: str
    module: str
    fn: Callable[[int, int], Run]  # (messages, port) -> Run
    timed_n: int
    size: int
    latency_ms: float = 0.0
    args: tuple[str, ...] = ()
    runs: list[Run] = field(default_factory=list)

    def run(self, n: int | None = None) -> Run:
        count = self.timed_n if n is None else n
        run, _ = timed(self.module, partial(self.fn, count), count, self.latency_ms, *self.args)
        return run


def stage_name(channel: str, latency_ms: float) -> str:
    """The stage of a record: the channel and the link (loopback, or the proxy's round trip)."""
    return f"{channel}, loopback" if latency_ms <= 0 else f"{channel}, RTT {2 * latency_ms:g} ms"


def email_contenders(
    n: int, m: int, latency_ms: float, connections: list[int], default_connections: int
) -> list[Contender]:
    """Ours (per connection count), the ceiling and the per-message peers at one latency."""
    relay = _relay_args()
    out = []
    for k in connections:
        label = f"email: ours (ledger, {k} connection{'s' if k > 1 else ''}"
        label += ", the default)" if k == default_connections else ")"
        out.append(Contender(label, "ours", SMTP_MODULE, partial(_ours, k), n, n, latency_ms, relay))
    out.append(
        Contender(
            "email: ceiling (pre-rendered, one connection)",
            "peer",
            SMTP_MODULE,
            ceiling_email,
            n,
            n,
            latency_ms,
            relay,
        )
    )
    out.append(
        Contender(
            f"email: connection per message, one TLS context (timed on {m:,}, extrapolated)",
            "peer",
            SMTP_MODULE,
            per_message_email,
            m,
            n,
            latency_ms,
            relay,
        )
    )
    if RELAY == "starttls-auth" and latency_ms <= 0:
        out.append(
            Contender(
                f"email: connection per message, aiosmtplib.send defaults (timed on {m:,}, extrapolated)",
                "peer",
                SMTP_MODULE,
                partial(per_message_email, reuse_tls_context=False),
                m,
                n,
                latency_ms,
                relay,
            )
        )
    return out


def _ours(connections: int, n: int, port: int) -> Run:
    return ours_email(n, port, connections)


def _ours_hook(concurrency: int, n: int, port: int) -> Run:
    return ours_webhook(n, port, concurrency)


def _raw_hook(concurrency: int, n: int, port: int) -> Run:
    return raw_webhook(n, port, concurrency)


def rates(n: int, runs: list[Run]) -> str:
    """'median (min-max) messages/s' of the runs."""
    per_s = [n / r.seconds for r in runs]
    return f"{statistics.median(per_s):,.0f} messages/s ({min(per_s):,.0f}-{max(per_s):,.0f})"


def paired(numerator: list[Run], denominator: list[Run]) -> str:
    """The ratio of two contenders' times within each repeat (run back to back): median and range."""
    ratios = [a.seconds / b.seconds for a, b in zip(numerator, denominator, strict=True)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"


SMTP_MODULE, HOOK_MODULE = "aicmo.fakes.smtp_server", "aicmo.fakes.webhook_receiver"
CHECK_MESSAGES = 20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=100_000, help="emails on loopback (0 ms)")
    parser.add_argument("--per-message-emails", type=int, default=1_000, help="... for the per-message peers")
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[0.0],
        help="One-way delay(s) of the link, each a stage (0: direct; N: through a proxy, RTT 2N).",
    )
    parser.add_argument("--latency-emails", type=int, default=2_000, help="emails per run at a latency > 0")
    parser.add_argument(
        "--latency-webhooks", type=int, default=5_000, help="webhook posts per run at a latency > 0"
    )
    parser.add_argument(
        "--latency-per-message-emails", type=int, default=100, help="... for the per-message peer"
    )
    parser.add_argument("--webhooks", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--connections",
        type=int,
        nargs="*",
        default=[],
        help="Also time ours with these SMTP connection counts (the settings' default always runs).",
    )
    parser.add_argument(
        "--relay",
        choices=["starttls-auth", "plain"],
        default="starttls-auth",
        help="The SMTP server asks for STARTTLS and AUTH, as real relays do (default), or neither.",
    )
    args = parser.parse_args(argv)
    global RELAY
    RELAY = args.relay
    default_connections = PublishingSettings().smtp_connections
    connections = [default_connections, *(k for k in args.connections if k != default_connections)]
    rec = Recorder(
        "publish",
        "Publishing: emails and webhooks through the send ledger, beside their peers",
        "Each run sends to a fresh local server in its own process, which must accept exactly one message "
        f"per contact. SMTP relay: {RELAY} (STARTTLS and AUTH when 'starttls-auth'). Stages: loopback, or "
        "through benchmarks/latency_proxy.py delaying every chunk by N ms each way (RTT 2N, connection "
        "set-up one RTT). The per-message peers are timed on fewer messages and extrapolated (their "
        "labels say so). Times are the sending only: the store, contacts and campaign are prepared "
        "before, untimed.",
        vars(args),
    )
    stages: list[tuple[str, list[Contender]]] = []
    for latency in args.latency_ms:
        n = args.emails if latency <= 0 else args.latency_emails
        m = args.per_message_emails if latency <= 0 else args.latency_per_message_emails
        if n:
            stages.append(
                (
                    stage_name("email", latency),
                    email_contenders(n, min(m, n), latency, connections, default_connections),
                )
            )
    c = args.concurrency
    for latency in args.latency_ms:
        w = args.webhooks if latency <= 0 else args.latency_webhooks
        if w:
            stages.append(
                (
                    stage_name("webhook", latency),
                    [
                        Contender(
                            f"webhook: ours (ledger, {c} in flight)",
                            "ours",
                            HOOK_MODULE,
                            partial(_ours_hook, c),
                            w,
                            w,
                            latency,
                        ),
                        Contender(
                            f"webhook: raw aiohttp ({c} in flight)",
                            "peer",
                            HOOK_MODULE,
                            partial(_raw_hook, c),
                            w,
                            w,
                            latency,
                        ),
                    ],
                )
            )
    # Checked before timing: every contender, at a small size, gets exactly one message per contact
    # to the server (the server counts acceptances and rejections; it rejects nothing it expects).
    for stage, contenders in stages:
        for contender in contenders:
            k = min(CHECK_MESSAGES, contender.timed_n)
            try:
                contender.run(k)
                ok, detail = True, f"{k} sent, {k} accepted, 0 rejected"
            except AssertionError as exc:
                ok, detail = False, str(exc)
            rec.check(
                f"{contender.label} [{stage}]: the server accepted each message once", "exact", ok, detail
            )
    for _ in range(args.repeat):  # interleaved: each repeat runs every contender back to back
        for stage, contenders in stages:
            for contender in contenders:
                run = contender.run()
                contender.runs.append(run)
                rec.add(
                    contender.label,
                    contender.role,
                    stage,
                    contender.size,
                    "messages",
                    scaled(run, contender.size / contender.timed_n),
                )
    for stage, contenders in stages:
        ours = [x for x in contenders if x.role == "ours"]
        peers = [x for x in contenders if x.role == "peer"]
        for x in contenders:
            scaled_runs = [scaled(r, x.size / x.timed_n) for r in x.runs]
            rec.note(f"{stage}: {x.label}: {rates(x.size, scaled_runs)}")
        for o in ours:
            for p in peers:
                rec.ratio(p.label, o.label, stage, o.size)
                if o.runs and p.runs:
                    p_runs = [scaled(r, p.size / p.timed_n) for r in p.runs]
                    rec.note(
                        f"{stage}: {p.label} / {o.label}, paired within each repeat: {paired(p_runs, o.runs)}"
                    )
    rec.save(**peer_versions("aiosmtplib", "aiosmtpd", "aiohttp", "standardwebhooks"))


if __name__ == "__main__":
    os.environ.setdefault("AICMO_HOME", tempfile.mkdtemp(prefix="bench-publish-"))
    main()
