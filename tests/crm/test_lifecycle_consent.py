"""Lifecycle state machine with history; consent double opt-in; suppression respected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from aicmo.errors import InputError
from aicmo.models.crm import Consent, Contact
from aicmo.storage.db import transaction
from aicmo.tasks.crm import consent
from aicmo.tasks.crm.lifecycle import (
    InvalidTransitionError,
    change_stage,
    check_transition,
    history,
    parse_stage,
)
from aicmo.tasks.crm.suppression import is_suppressed, suppress, suppressed_contact_ids
from tests.crm.helpers import add_contacts


def test_stage_changes_are_recorded_and_read_back_in_order(engine: Engine) -> None:
    ids = add_contacts(engine, [{"email": "a@example.com"}, {"email": "b@example.com"}])
    a, b = ids["a@example.com"], ids["b@example.com"]
    steps = [
        ("lead", "form"),
        ("mql", "score 40"),
        ("sql", "call booked"),
        ("lead", "not ready"),
        ("customer", "paid"),
    ]
    for day, (stage, reason) in enumerate(steps, start=1):
        with transaction(engine) as session:
            assert change_stage(session, [a], stage, reason, at=datetime(2026, 1, day, tzinfo=UTC)) == 1
    with transaction(engine) as session:
        got = history(session, a)
        assert [(h.from_stage, h.to_stage, h.reason) for h in got] == [
            ("subscriber", "lead", "form"),
            ("lead", "mql", "score 40"),
            ("mql", "sql", "call booked"),
            ("sql", "lead", "not ready"),
            ("lead", "customer", "paid"),
        ]
        assert got[-1].changed_at == datetime(2026, 1, 5, tzinfo=UTC)
        assert session.get(Contact, a).lifecycle_stage == "customer"  # type: ignore[union-attr]
        assert history(session, b) == []


def test_invalid_jump_names_both_stages_and_changes_nothing(engine: Engine) -> None:
    ids = add_contacts(engine, [{"email": "a@example.com"}, {"email": "c@example.com"}])
    with transaction(engine) as session:
        change_stage(session, [ids["c@example.com"]], "customer")
    with pytest.raises(InvalidTransitionError) as info, transaction(engine) as session:
        change_stage(session, list(ids.values()), "mql")
    assert "'customer'" in str(info.value) and "'mql'" in str(info.value)
    with transaction(engine) as session:
        stages = {e: s for e, s in session.execute(select(Contact.email, Contact.lifecycle_stage))}
    assert stages == {"a@example.com": "subscriber", "c@example.com": "customer"}


def test_state_machine_rules() -> None:
    check_transition("subscriber", "customer")  # skipping ahead is fine
    check_transition("customer", "churned")
    check_transition("churned", "lead")
    for bad in [("customer", "lead"), ("evangelist", "subscriber"), ("churned", "mql"), ("lead", "lead")]:
        with pytest.raises(InvalidTransitionError):
            check_transition(*bad)
    with pytest.raises(InputError, match="unknown lifecycle stage"):
        parse_stage("prospect")
    assert parse_stage("Sales Qualified Lead") == "sql"


def test_double_opt_in_pending_gets_no_marketing_confirmed_never_asked_twice(engine: Engine) -> None:
    ids = add_contacts(engine, [{"email": f"p{i}@example.com"} for i in range(3)])
    all_ids = sorted(ids.values())
    with transaction(engine) as session:
        tokens = consent.request_opt_in(session, all_ids, "email", source="signup-form", text_version="v3")
        assert set(tokens) == set(all_ids)
        assert consent.marketable_contact_ids(session, all_ids, "email") == []
    with transaction(engine) as session:
        first = consent.confirm(session, tokens[all_ids[0]])
        assert first == all_ids[0]
        assert consent.confirm(session, tokens[all_ids[0]]) == first  # a second click is harmless
    with transaction(engine) as session:
        again = consent.request_opt_in(session, all_ids, "email", source="signup-form", text_version="v4")
        assert again == {}  # pending ones are not asked again, the confirmed one never
        assert consent.marketable_contact_ids(session, all_ids, "email") == [first]
        row = session.scalars(select(Consent).where(Consent.contact_id == first)).one()
        assert (row.status, row.source, row.text_version) == ("confirmed", "signup-form", "v3")
        assert row.confirmed_at is not None and row.requested_at is not None
        assert session.get(Contact, first).email_consent == "confirmed"  # type: ignore[union-attr]
    with transaction(engine) as session, pytest.raises(InputError):
        consent.confirm(session, "not-a-token")


def test_withdrawal_suppresses_and_publishing_check_respects_suppression(engine: Engine) -> None:
    ids = add_contacts(
        engine,
        [
            {"email": "w@example.com", "phone": "+15550100"},
            {"email": "k@example.com", "phone": "+15550101"},
            {"email": "h@example.com", "phone": "+15550102"},
        ],
    )
    w, k, h = ids["w@example.com"], ids["k@example.com"], ids["h@example.com"]
    with transaction(engine) as session:
        for channel in ("email", "sms"):
            tokens = consent.request_opt_in(session, [w, k, h], channel, source="form", text_version="v1")
            for token in tokens.values():
                consent.confirm(session, token)
        assert consent.marketable_contact_ids(session, [w, k, h], "email") == [w, k, h]
        consent.withdraw(session, w, "email", source="unsubscribe-link")
        suppress(session, "H@example.com", "email", "hard_bounce")
        consent.withdraw(session, k, "sms", source="STOP")
    with transaction(engine) as session:
        assert consent.marketable_contact_ids(session, [w, k, h], "email") == [k]
        assert consent.marketable_contact_ids(session, [w, k, h], "sms") == [w, h]
        assert is_suppressed(session, "w@example.com", "email") == "unsubscribe"
        assert is_suppressed(session, "+1 555 0101", "sms") == "sms_stop"
        assert suppressed_contact_ids(session, [w, k, h], "email") == {w, h}
        assert session.get(Contact, h).suppressed  # type: ignore[union-attr]
        # the list stores keyed hashes only
        from aicmo.models.crm import Suppression

        stored = " ".join(f"{s.address_hmac} {s.source}" for s in session.scalars(select(Suppression)))
        assert "example.com" not in stored and "5550101" not in stored
