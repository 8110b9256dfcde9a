"""Exports of Keila, Ghost, listmonk, Mautic and Mailchimp carry who opted out: ``aicmo contacts import``
stores it (consent withdrawn, address suppressed with the reason, opt-in times) and no campaign mails them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from aicmo.models.crm import Consent, Contact
from aicmo.settings import PublishingSettings
from aicmo.storage.db import get_engine, transaction
from aicmo.storage.publishing import LedgerRow
from aicmo.tasks.crm.suppression import is_suppressed
from aicmo.tasks.publishing.eligibility import eligibility_check
from tests.crm.helpers import run_cli

# Each tool's export in its documented column layout (a few rows, hand-written).
EXPORTS = {
    "keila.csv": (
        "Email,First name,Last name,Data,Status\n"
        'kim@example.com,Kim,Keller,"{""plan"": ""pro""}",active\n'
        "ken@example.com,Ken,Kurz,{},unsubscribed\n"
        "kat@example.com,Kat,Kahn,{},unreachable\n"
    ),
    "ghost.csv": (
        "id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,"
        "deleted_at,labels,tiers\n"
        "6512a,gina@example.com,Gina Grey,,true,false,,2026-01-04T10:00:00.000Z,,vip,\n"
        "6512b,gus@example.com,Gus Green,,false,false,,2026-01-05T10:00:00.000Z,,,\n"
    ),
    "listmonk.csv": (
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        'a1,lena@example.com,Lena Lind,"{""city"": ""Bonn""}",enabled,2026-01-02 10:00:00,2026-01-02 10:00:00\n'
        "a2,leo@example.com,Leo Lang,{},blocklisted,2026-01-02 10:00:00,2026-02-02 10:00:00\n"
    ),
    "mautic.csv": (
        "id,firstname,lastname,email,company,points,doNotEmail\n"
        "11,Max,Moor,max@example.com,Acme,10,0\n"
        "12,Mia,Mohr,mia@example.com,Acme,4,1\n"
    ),
    "mailchimp_subscribed.csv": (
        "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,"
        "LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES,TAGS\n"
        "sam@example.com,Sam,Sand,4,2026-01-02 10:00:00,,2026-01-02 10:05:00,10.0.0.1,,,,,,DE,,"
        "2026-01-02 10:05:00,1,aa,,\n"
    ),
    "mailchimp_unsubscribed.csv": (
        "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,"
        "LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,"
        "UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER,LEID,EUID,NOTES,TAGS\n"
        "una@example.com,Una,Urban,2,2026-01-02 10:00:00,,2026-01-02 10:05:00,,,,,,,DE,,"
        "2026-03-01 09:00:00,Spring sale,c1,NORMAL,,2,bb,,\n"
    ),
    "mailchimp_cleaned.csv": (
        "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,"
        "LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,"
        "CLEAN_CAMPAIGN_ID,LEID,EUID,NOTES,TAGS\n"
        "cleo@example.com,Cleo,Cole,1,2026-01-02 10:00:00,,2026-01-02 10:05:00,,,,,,,DE,,"
        "2026-03-02 09:00:00,Spring sale,c1,3,cc,,\n"
    ),
}

# email -> (email consent, suppression reason); None: never asked / not suppressed
EXPECTED = {
    "kim@example.com": ("confirmed", None),
    "ken@example.com": ("withdrawn", "unsubscribe"),
    "kat@example.com": ("none", "hard_bounce"),
    "gina@example.com": ("confirmed", None),
    "gus@example.com": ("withdrawn", "unsubscribe"),
    "lena@example.com": ("confirmed", None),
    "leo@example.com": ("withdrawn", "manual"),
    "max@example.com": ("none", None),
    "mia@example.com": ("withdrawn", "unsubscribe"),
    "sam@example.com": ("confirmed", None),
    "una@example.com": ("withdrawn", "unsubscribe"),
    "cleo@example.com": ("none", "hard_bounce"),
}


def _import(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    code, out, err = run_cli(capsys, "contacts", "import", str(path))
    assert code == 0, err
    return out


def _store(home: Path) -> Engine:
    return get_engine(f"sqlite:///{home / 'aicmo.db'}")


def _people(engine: Engine) -> dict[str, Contact]:
    with transaction(engine) as session:
        return {c.email: c for c in session.scalars(select(Contact))}


def test_each_tools_opt_outs_are_imported_withdrawn_and_suppressed_and_never_mailed(
    aicmo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    for name, text in EXPORTS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        out = _import(capsys, tmp_path / name)
        if name == "keila.csv":  # the status column is read, not ignored
            assert "ignored columns: Data\n" in out
    engine = _store(aicmo_home)
    people = _people(engine)
    assert sorted(people) == sorted(EXPECTED)
    with transaction(engine) as session:
        got = {
            email: (c.email_consent, is_suppressed(session, email, "email")) for email, c in people.items()
        }
    assert got == EXPECTED
    for email, (_, reason) in EXPECTED.items():
        assert people[email].suppressed == (reason is not None)
        assert people[email].suppression_reason == reason

    # A campaign's claim-time check sends to the opted-in and skips every opted-out address.
    ids = {email: c.id for email, c in people.items()}
    rows = [LedgerRow(n, 1, cid, "email", f"k{n}", 0, None) for n, cid in enumerate(ids.values(), 1)]
    row_email = {row.id: email for row, email in zip(rows, ids, strict=True)}
    with transaction(engine) as session:
        skipped = eligibility_check(PublishingSettings(frequency_cap=0))(session, rows)
    mailed = sorted(row_email[r.id] for r in rows if r.id not in skipped)
    assert mailed == ["gina@example.com", "kim@example.com", "lena@example.com", "sam@example.com"]
    reasons = {row_email[rid]: why for rid, why in skipped.items()}
    assert {e for e, why in reasons.items() if why == "suppressed"} == {
        e for e, (_, reason) in EXPECTED.items() if reason
    }
    assert reasons["max@example.com"] == "no_consent"  # Mautic contact never opted in: not mailed either


def test_mailchimp_times_and_rating_are_kept_and_a_reimport_changes_nothing(
    aicmo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "mailchimp_subscribed.csv"
    path.write_text(EXPORTS["mailchimp_subscribed.csv"], encoding="utf-8")
    _import(capsys, path)
    engine = _store(aicmo_home)
    with transaction(engine) as session:
        contact = session.scalars(select(Contact)).one()
        consent = session.scalars(select(Consent)).one()
        before = (contact.updated_at, consent.updated_at)
        assert contact.tags == ["member_rating:4"]
        assert (consent.channel, consent.status) == ("email", "confirmed")
        assert consent.requested_at == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
        assert consent.confirmed_at == datetime(2026, 1, 2, 10, 5, tzinfo=UTC)
        assert consent.source == "import:mailchimp_subscribed.csv"
    out = _import(capsys, path)
    assert "unchanged" in out
    with transaction(engine) as session:
        contact = session.scalars(select(Contact)).one()
        consent = session.scalars(select(Consent)).one()
        assert (contact.updated_at, consent.updated_at) == before


def test_a_later_unsubscribe_export_withdraws_consent_and_a_later_subscribed_one_does_not_undo_it(
    aicmo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    first = tmp_path / "keila-1.csv"
    first.write_text("Email,First name,Last name,Data,Status\nkim@example.com,Kim,K,{},active\n")
    _import(capsys, first)
    later = tmp_path / "keila-2.csv"
    later.write_text("Email,First name,Last name,Data,Status\nkim@example.com,Kim,K,{},unsubscribed\n")
    _import(capsys, later)
    _import(capsys, first)  # an old export again: the person's opt-out stands
    engine = _store(aicmo_home)
    with transaction(engine) as session:
        contact = session.scalars(select(Contact)).one()
        assert contact.email_consent == "withdrawn"
        assert is_suppressed(session, "kim@example.com", "email") == "unsubscribe"


def test_a_status_it_cannot_read_rejects_that_row_naming_the_column(
    aicmo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "listmonk.csv"
    path.write_text(
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        "a1,lena@example.com,Lena Lind,{},enabled,,\n"
        "a2,leo@example.com,Leo Lang,{},sleeping,,\n"
    )
    code, _, err = run_cli(capsys, "contacts", "import", str(path))
    assert code == 1 and "1 bad row(s)" in err
    errors = (tmp_path / "listmonk.errors.csv").read_text()
    assert "3,status," in errors and "'sleeping'" in errors
    assert sorted(_people(_store(aicmo_home))) == ["lena@example.com"]
