"""Email campaigns over a real SMTP server: headers, links, verdicts, suppression, events."""

from __future__ import annotations

import email.policy
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import polars as pl
import pytest
from aiosmtplib.email import quote_address
from sqlalchemy import Engine

from aicmo.fakes.smtp_server import LocalSmtpServer, self_signed_context
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.tasks.crm.suppression import is_suppressed
from aicmo.tasks.publishing.campaigns import status
from aicmo.tasks.publishing.channels.email import _command_address
from tests.publishing.helpers import add_contacts, email_definition, link_fields, run, started


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def smtp(request: pytest.FixtureRequest) -> Iterator[LocalSmtpServer]:
    """The recording server, with and without PIPELINING in its EHLO (both client paths)."""
    with LocalSmtpServer(pipelining=request.param) as server:
        yield server


async def test_campaign_reaches_every_contact_once_with_compliant_headers(
    engine: Engine, smtp: LocalSmtpServer, lake: Lake
) -> None:
    ids = add_contacts(engine, 30)
    campaign_id = started(engine, email_definition("welcome", ids))
    settings = smtp.settings(rate_limit_per_s=10_000, handover_window=7, claim_batch=11)

    report = await run(engine, campaign_id, settings, lake)

    assert report.finished and report.sent == 30
    assert set(smtp.per_recipient().values()) == {1} and len(smtp.per_recipient()) == 30
    msg = message_from_bytes(smtp.received[0][2], policy=email.policy.default)
    assert msg["Subject"].startswith("Hello Ann")
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.com>")
    assert "mailto:" in msg["List-Unsubscribe"] and "https://t.example.com/u/" in msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.is_multipart() and msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert settings.postal_address in text and settings.postal_address in html
    # every link carries the UTM parameters, through the signed click redirect
    clicks = [u for u in html.split('"') if u.startswith("https://t.example.com/c/")]
    assert clicks, html
    import html as html_lib

    fields = link_fields(html_lib.unescape(clicks[0]))
    assert fields is not None and "utm_source=newsletter" in fields["u"] and "utm_medium=email" in fields["u"]
    text_click = next(w for w in text.split() if w.startswith("https://t.example.com/c/"))
    text_fields = link_fields(text_click.rstrip(".,"))
    assert text_fields is not None and "utm_campaign=spring" in text_fields["u"]
    # one message id per row, ledger and events agree
    st = status(engine, "welcome")
    assert st.status == "sent" and st.ledger == {("sent", "email"): 30}
    events = lake.scan("events").collect()
    assert events.filter(pl.col("type") == "send").height == 30
    assert events["event_id"].n_unique() == 30


async def test_hard_bounce_is_permanent_and_suppressed_others_go_out(
    engine: Engine, smtp: LocalSmtpServer
) -> None:
    ids = add_contacts(engine, 5)
    smtp.reject("p2@example.com")
    smtp.fail_data("451 4.3.0 Temporary local problem", times=1)
    campaign_id = started(engine, email_definition("bounce", ids))
    report = await run(engine, campaign_id, smtp.settings(rate_limit_per_s=10_000, retry_backoff_s=0.05))

    assert report.finished
    assert sorted(smtp.per_recipient()) == [f"p{i}@example.com" for i in (0, 1, 3, 4)]
    st = status(engine, "bounce")
    assert st.ledger[("failed_permanent", "email")] == 1 and st.skip_reasons == {"hard_bounce": 1}
    with transaction(engine) as session:
        assert is_suppressed(session, "p2@example.com", "email") == "hard_bounce"


async def test_bad_credentials_halt_the_campaign_with_a_clear_message(engine: Engine) -> None:
    ids = add_contacts(engine, 4)
    with LocalSmtpServer(credentials=("mailer", "right")) as smtp:
        campaign_id = started(engine, email_definition("auth", ids))
        report = await run(engine, campaign_id, smtp.settings(smtp_password="wrong"))
        assert report.halted is not None and "AICMO_SMTP_PASSWORD" in report.halted
        assert smtp.count == 0
        st = status(engine, "auth")
        assert st.status == "paused" and st.ledger == {("pending", "email"): 4}
        report = await run(engine, campaign_id, smtp.settings(smtp_password="right"))
        assert report.status == "paused"  # a halted campaign waits for a resume
        from aicmo.tasks.publishing.campaigns import resume

        resume(engine, "auth")
        report = await run(engine, campaign_id, smtp.settings(smtp_password="right"))
        assert report.finished and smtp.count == 4


@pytest.mark.parametrize("fault", ["drop"])
async def test_answer_lost_after_data_is_unknown_and_never_resent(
    engine: Engine, smtp: LocalSmtpServer, fault: str
) -> None:
    ids = add_contacts(engine, 6)
    smtp.fail_data(fault, times=1)
    campaign_id = started(engine, email_definition("lost", ids))
    report = await run(engine, campaign_id, smtp.settings(rate_limit_per_s=10_000))
    assert report.finished
    assert len(report.unknown) == 1
    assert smtp.count == 5
    assert max(smtp.per_recipient().values()) == 1


async def test_starttls_and_auth_when_configured(engine: Engine, tmp_path: Path) -> None:
    ids = add_contacts(engine, 3)
    context = self_signed_context(tmp_path)
    with LocalSmtpServer(credentials=("mailer", "s3cret"), tls_context=context) as smtp:
        campaign_id = started(engine, email_definition("tls", ids))
        settings = smtp.settings(smtp_starttls=True, smtp_validate_certs=False)
        report = await run(engine, campaign_id, settings)
        assert report.finished and smtp.count == 3
        # without STARTTLS the server (which requires it) offers no AUTH: the campaign halts, saying so
        ids2 = add_contacts(engine, 2, prefix="q")
        campaign2 = started(engine, email_definition("plain", ids2))
        report = await run(engine, campaign2, smtp.settings(smtp_starttls=False))
        assert report.halted is not None and "AICMO_SMTP_STARTTLS" in report.halted
        assert status(engine, "plain").ledger == {("pending", "email"): 2}
        assert smtp.count == 3


def test_mail_and_rcpt_addresses_go_out_as_aiosmtplib_would_quote_them() -> None:
    addresses = ["a.b@example.com", "x+y@ex-a.mple.com", "o'brien@x.com", "A@B.COM", "..a@b", "a.@x.com"]
    for address in addresses:
        assert _command_address(address) == quote_address(address).encode()
    # Anything that needs parsing (display names, quoting, non-ASCII, odd shapes) takes aiosmtplib's own path.
    for address in [
        '"Ann" <ann@example.com>',
        "ann@example.com (Ann)",
        "ä@example.com",
        "a@b@c",
        "a b@x.com",
    ]:
        assert _command_address(address) is None
