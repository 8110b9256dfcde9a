"""Exports neutralize formulas and are registered; erasure removes a person everywhere."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select

from aicmo.models.base import utcnow
from aicmo.models.crm import Consent, Contact, LifecycleChange, Suppression
from aicmo.models.gateway import ProviderCacheEntry
from aicmo.models.runs import AuditRecord
from aicmo.storage.db import make_engine, transaction
from aicmo.storage.lake import Lake
from aicmo.storage.migrate import upgrade
from aicmo.tasks.crm import consent
from aicmo.tasks.crm.csv_import import import_contacts
from aicmo.tasks.crm.erasure import erase_contact
from aicmo.tasks.crm.export import export_contacts, registered_exports
from aicmo.tasks.crm.lifecycle import change_stage
from tests.crm.helpers import add_contacts, run_cli


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_neutralizes_formula_injection(engine: Engine, tmp_path: Path) -> None:
    add_contacts(
        engine,
        [
            {
                "email": "evil@example.com",
                "first_name": '=HYPERLINK("http://x")',
                "last_name": "+1+1",
                "company_name": "@SUM(A1)",
                "city": "-2",
                "country": "\tDE",
                "tags": ["=cmd", "ok"],
            },
            {"email": "plain@example.com", "first_name": "Ann", "last_name": "O'Neil", "phone": "+4930123"},
        ],
    )
    out = tmp_path / "out" / "contacts.csv"
    result = export_contacts(engine, out, home=tmp_path)
    assert result.rows == 2
    rows = {r["email"]: r for r in _read(out)}
    evil = rows["evil@example.com"]
    assert evil["first_name"] == '\'=HYPERLINK("http://x")'
    assert evil["last_name"] == "'+1+1" and evil["company_name"] == "'@SUM(A1)"
    assert evil["city"] == "'-2" and evil["country"] == "'\tDE" and evil["tags"] == "'=cmd;ok"
    plain = rows["plain@example.com"]
    assert plain["first_name"] == "Ann" and plain["last_name"] == "O'Neil" and plain["phone"] == "'+4930123"
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows.values() for v in r.values())
    assert registered_exports(tmp_path) == [out.resolve()]


def _seed_lake(lake: Lake, target: int, other: int) -> None:
    day = datetime(2026, 3, 1, 12, tzinfo=UTC)
    events = []
    for d in range(3):
        for i, cid in enumerate([target, other, other, None]):
            if d == 2 and cid == target:
                continue  # the third day holds no event of the target: it must not be rewritten
            events.append(
                {
                    "event_id": f"e{d}-{i}",
                    "ts": day + timedelta(days=d, minutes=i),
                    "contact_id": cid,
                    "channel": "email",
                    "type": "open",
                }
            )
    lake.write("events", pl.DataFrame(events))
    orders = [
        {
            "order_id": "o1",
            "contact_id": target,
            "ts": day,
            "amount": 10.0,
            "currency": "EUR",
            "source": "shop",
        },
        {
            "order_id": "o2",
            "contact_id": other,
            "ts": day,
            "amount": 20.0,
            "currency": "EUR",
            "source": "shop",
        },
    ]
    lake.write("orders", pl.DataFrame(orders))
    snapshot = [{"as_of": day.date(), "contact_id": cid, "tier": "gold"} for cid in (target, other)]
    lake.write("ltv", pl.DataFrame(snapshot))  # a derived table written by scoring


def test_erasure_removes_the_person_everywhere_and_keeps_a_tombstone(
    engine: Engine, lake: Lake, tmp_path: Path
) -> None:
    src = tmp_path / "people.csv"
    src.write_text("email,first_name,phone\nGone@Example.com,Gone,+15550100\nstay@example.com,Stay,\n")
    import_contacts(engine, src)
    with transaction(engine) as session:
        ids = {c.email: c.id for c in session.scalars(select(Contact))}
        gone, stay = ids["gone@example.com"], ids["stay@example.com"]
        change_stage(session, [gone, stay], "lead", "form")
        for cid in (gone, stay):
            for token in consent.request_opt_in(
                session, [cid], "email", source="f", text_version="v1"
            ).values():
                consent.confirm(session, token)
        expires = utcnow() + timedelta(days=1)
        for key in ("gone@example.com", "stay@example.com"):
            session.add(
                ProviderCacheEntry(
                    capability="social_by_email",
                    key=key,
                    found=True,
                    payload={"login": "x"},
                    expires_at=expires,
                )
            )
        session.add(
            ProviderCacheEntry(
                capability="company_by_domain", key="example.com", found=True, payload={}, expires_at=expires
            )
        )
    _seed_lake(lake, gone, stay)
    export = tmp_path / "exports" / "all.csv"
    export_contacts(engine, export, home=tmp_path)
    untouched_day = lake.partition_path("events", datetime(2026, 3, 3).date())
    mtime = os.stat(untouched_day).st_mtime_ns

    report = erase_contact(engine, lake, "  GONE@example.com", home=tmp_path)

    assert report.contact_found and report.contacts == 1 and report.consents == 1
    assert report.lifecycle_changes == 2  # initial stage + the move to lead
    assert report.lake_rows == {"events": 2, "orders": 1, "ltv": 1}
    assert report.lake_partitions == {"events": 2, "orders": 1, "ltv": 1}
    assert report.cache_entries == 1 and (report.export_files, report.export_rows) == (1, 1)
    assert report.tombstone_added
    events = lake.scan("events").collect()
    assert gone not in events["contact_id"].to_list()
    assert events.height == 9  # 11 events seeded, 2 of them the target's
    assert events["contact_id"].null_count() == 3  # anonymous events are kept
    assert os.stat(untouched_day).st_mtime_ns == mtime
    assert lake.scan("orders").collect()["order_id"].to_list() == ["o2"]
    assert lake.scan("ltv").collect()["contact_id"].to_list() == [stay]
    assert [r["email"] for r in _read(export)] == ["stay@example.com"]
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
        assert session.scalar(select(func.count()).select_from(Consent)) == 1
        assert (
            session.scalar(
                select(func.count()).select_from(LifecycleChange).where(LifecycleChange.contact_id == gone)
            )
            == 0
        )
        assert [
            e.key for e in session.scalars(select(ProviderCacheEntry).order_by(ProviderCacheEntry.key))
        ] == ["example.com", "stay@example.com"]
        tomb = session.scalars(select(Suppression).where(Suppression.reason == "erased")).one()
        assert tomb.channel == "all" and "gone" not in tomb.address_hmac
        audit = session.scalars(select(AuditRecord).where(AuditRecord.action == "contact.erased")).one()
        text = f"{audit.details} {audit.subject_hmac}"
        assert (
            "gone" not in text.lower() and "5550100" not in text and audit.subject_hmac == tomb.address_hmac
        )

    again = import_contacts(engine, src)
    assert again.skipped_erased == 1 and again.inserted == 0
    with transaction(engine) as session:
        assert session.scalar(select(Contact.id).where(Contact.email == "gone@example.com")) is None
    second = erase_contact(engine, lake, "gone@example.com", home=tmp_path)
    assert not second.contact_found and not second.tombstone_added


def test_cli_erase_prints_counts_and_history_reads_back(
    aicmo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    aicmo_home.mkdir(parents=True, exist_ok=True)  # the store's folder must exist
    upgrade(make_engine(f"sqlite:///{aicmo_home / 'aicmo.db'}"))
    src = tmp_path / "c.csv"
    src.write_text("email,stage\nwho@example.com,lead\n")

    def run(*args: str) -> tuple[int, str, str]:
        return run_cli(capsys, *args)

    assert run("contacts", "import", str(src))[0] == 0
    assert run("contacts", "stage", "who@example.com", "mql", "--reason", "webinar")[0] == 0
    code, _, err = run("contacts", "stage", "who@example.com", "subscriber")
    assert code == 1 and "'mql'" in err and "'subscriber'" in err and "Traceback" not in err
    code, out, _ = run("contacts", "history", "who@example.com")
    assert code == 0 and "webinar" in out and "mql" in out
    assert run("contacts", "export", str(tmp_path / "x.csv"))[0] == 0
    assert "who@example.com" in (tmp_path / "x.csv").read_text()
    code, out, err = run("contacts", "erase", "who@example.com")
    assert code == 0, err
    assert "contact rows" in out and "tombstone: added" in out and "who@example.com" not in out
    assert "who@example.com" not in (tmp_path / "x.csv").read_text()
    code, _, err = run("contacts", "history", "who@example.com")
    assert code == 1 and "no contact" in err
    code, out, _ = run("contacts", "import", str(src))
    assert code == 0 and "skipped: the address was erased" in out
