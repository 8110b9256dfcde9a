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
separate process; ours (sender + ledger + Standard Webhooks signing + gateway POST) against raw
aiohttp posting the same signed bodies with the same concurrency (``--concurrency``).

Before timing, each contender's output is checked: the server must have accepted exactly one
message per contact. Each contender runs ``--repeat`` times, interleaved; medians and ranges.
The load average is recorded before and after.

    .venv/bin/python benchmarks/bench_publish.py --emails 100000 --webhooks 100000 --repeat 3 [--relay plain]
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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import machine_info
from pydantic import SecretStr
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
def _ours_email(n: int, connections: int, port: int) -> float:
    return ours_email(n, port, connections)


def ours_email(n: int, port: int, connections: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        engine, campaign_id = _store(Path(tmp), n, ["email"])
        settings = _settings(port, smtp_connections=connections)
        started = time.perf_counter()
        report = send_campaign(engine, campaign_id, settings=settings, links=LINKS)
        seconds = time.perf_counter() - started
        assert report.sent == n and report.finished, report
        engine.dispose()
        return seconds


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


def per_message_email(n: int, port: int, *, reuse_tls_context: bool = True) -> float:
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

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def ceiling_email(n: int, port: int) -> float:
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

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


# ---- webhook contenders ---------------------------------------------------------------------------
def ours_webhook(n: int, port: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        engine, campaign_id = _store(Path(tmp), n, ["webhook"], f"http://127.0.0.1:{port}/hooks")
        started = time.perf_counter()
        report = send_campaign(
            engine, campaign_id, settings=_settings(), links=LINKS, window=concurrency * 4, batch=2000
        )
        seconds = time.perf_counter() - started
        assert report.sent == n and report.finished, report
        engine.dispose()
        return seconds


def raw_webhook(n: int, port: int, concurrency: int) -> float:
    """Raw aiohttp posting the same Standard Webhooks-signed bodies, ``concurrency`` workers."""
    signer = Webhook(SECRET)
    url = f"http://127.0.0.1:{port}/hooks"

    async def go() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            items = iter(range(n))

            async def worker() -> None:
                for i in items:
                    from datetime import UTC, datetime

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

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def timed(module: str, fn: Callable[[int], float], n: int, *args: str) -> float:
    """One run against a fresh server; checks it accepted exactly ``n``."""
    with server(module, *args) as (port, counts):
        seconds = fn(port)
    assert counts.get("count") == n, f"{fn}: server accepted {counts}, expected {n}"
    assert counts.get("rejected", 0) == 0, counts
    return seconds


def summarize(name: str, n: int, runs: list[float], extrapolated_from: int | None = None) -> dict[str, Any]:
    rates = [n / s for s in runs]
    return {
        "contender": name,
        "messages": n,
        "median_s": round(statistics.median(runs), 2),
        "msgs_per_s": round(statistics.median(rates)),
        "range_msgs_per_s": [round(min(rates)), round(max(rates))],
        "extrapolated_from": extrapolated_from,
    }


def paired(numerator: list[float], denominator: list[float]) -> dict[str, Any]:
    """The ratio of two contenders' times within each repeat (they ran side by side): median and range."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return {
        "median": round(statistics.median(ratios), 3),
        "range": [round(min(ratios), 3), round(max(ratios), 3)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=100_000)
    parser.add_argument("--per-message-emails", type=int, default=1_000)
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
    args = parser.parse_args()
    global RELAY
    RELAY = args.relay
    smtp_mod, hook_mod = "aicmo.fakes.smtp_server", "aicmo.fakes.webhook_receiver"
    n, m, w, c = args.emails, args.per_message_emails, args.webhooks, args.concurrency
    default_connections = PublishingSettings().smtp_connections
    connections = [default_connections, *(k for k in args.connections if k != default_connections)]
    results: dict[str, list[float]] = {f"ours_{k}": [] for k in connections}
    results.update(ceiling=[], per_message=[], per_message_default=[], ours_webhook=[], raw_aiohttp=[])
    load_before = [round(x, 2) for x in os.getloadavg()]
    for _ in range(args.repeat):
        if n:
            for k in connections:
                results[f"ours_{k}"].append(timed(smtp_mod, partial(_ours_email, n, k), n, *_relay_args()))
            results["ceiling"].append(timed(smtp_mod, lambda p: ceiling_email(n, p), n, *_relay_args()))
            results["per_message"].append(
                timed(smtp_mod, lambda p: per_message_email(m, p), m, *_relay_args()) * n / m
            )
            if RELAY == "starttls-auth":
                results["per_message_default"].append(
                    timed(
                        smtp_mod,
                        lambda p: per_message_email(m, p, reuse_tls_context=False),
                        m,
                        *_relay_args(),
                    )
                    * n
                    / m
                )
        if w:
            results["ours_webhook"].append(timed(hook_mod, lambda p: ours_webhook(w, p, c), w))
            results["raw_aiohttp"].append(timed(hook_mod, lambda p: raw_webhook(w, p, c), w))
    rows: list[dict[str, Any]] = []
    ratios: dict[str, Any] = {}
    if n:
        for k in connections:
            label = f"email: ours (ledger, {k} connection{'s' if k > 1 else ''}"
            label += ", the default)" if k == default_connections else ")"
            rows.append(summarize(label, n, results[f"ours_{k}"]))
            ratios[f"ours_{k}_vs_per_message"] = paired(results["per_message"], results[f"ours_{k}"])
            ratios[f"ours_{k}_share_of_ceiling"] = paired(results["ceiling"], results[f"ours_{k}"])
        rows += [
            summarize("email: ceiling (pre-rendered, one connection)", n, results["ceiling"]),
            summarize(
                "email: connection per message (one TLS context reused)",
                n,
                results["per_message"],
                extrapolated_from=m,
            ),
        ]
        if results["per_message_default"]:
            rows.append(
                summarize(
                    "email: connection per message (aiosmtplib.send defaults: a TLS context each)",
                    n,
                    results["per_message_default"],
                    extrapolated_from=m,
                )
            )
            for k in connections:
                ratios[f"ours_{k}_vs_per_message_defaults"] = paired(
                    results["per_message_default"], results[f"ours_{k}"]
                )
    if w:
        rows += [
            summarize(f"webhook: ours (ledger, {c} in flight)", w, results["ours_webhook"]),
            summarize(f"webhook: raw aiohttp ({c} in flight)", w, results["raw_aiohttp"]),
        ]
        ratios["webhook_ours_vs_raw_aiohttp"] = paired(results["raw_aiohttp"], results["ours_webhook"])
    report = {
        "machine": machine_info.machine(aiosmtplib=aiosmtplib.__version__, aiohttp=aiohttp.__version__),
        "load_avg_before": load_before,
        "relay": RELAY,
        "results": rows,
        "ratios": ratios,
    }
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    os.environ.setdefault("AICMO_HOME", tempfile.mkdtemp(prefix="bench-publish-"))
    main()
