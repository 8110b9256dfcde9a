"""Assignment: the same for the same (campaign, contact), balanced within strata, and kept across a kill -9."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.settings import reset_settings
from aicmo.storage.db import make_engine, transaction
from aicmo.storage.experiments import ledger_variants
from aicmo.storage.migrate import upgrade
from aicmo.tasks.experiments.assign import assign
from aicmo.tasks.publishing.campaigns import status
from tests.experiments.helpers import ab_definition
from tests.publishing.helpers import add_contacts, started
from tests.publishing.sender_proc import kill_mid_send_then_finish

ROOT = Path(__file__).resolve().parents[2]
KEY = b"assignment-test-key-0123456789abcdef"


def test_assignment_is_deterministic_keyed_and_balanced_within_each_stratum() -> None:
    strata = {cid: ("gold", "silver", "bronze", "")[cid % 7 % 4] for cid in range(1, 2_001)}
    first = assign(KEY, 7, strata, variants=3, holdout=0.1, sample=900)
    again = assign(KEY, 7, dict(reversed(list(strata.items()))), variants=3, holdout=0.1, sample=900)
    assert first == again  # order of the audience does not matter
    other_key = assign(b"another-key-0123456789abcdef", 7, strata, variants=3, holdout=0.1, sample=900)
    assert other_key.test != first.test
    assert len(first.test) == 900 and 150 <= len(first.holdout) <= 250
    assert set(first.holdout).isdisjoint(first.test) and len(first.rest) == 2_000 - 900 - len(first.holdout)
    for stratum in ("gold", "silver", "bronze", ""):
        sizes = Counter(v for cid, v in first.test.items() if strata[cid] == stratum)
        assert max(sizes.values()) - min(sizes.values()) <= 1, stratum
    # the holdout is a per-contact coin: a contact's membership does not depend on the others
    smaller = assign(
        KEY, 7, {c: s for c, s in strata.items() if c <= 1_000}, variants=3, holdout=0.1, sample=10
    )
    assert set(smaller.holdout) == {c for c in first.holdout if c <= 1_000}


@pytest.mark.slow
def test_variants_survive_kill_9_and_rerun_of_the_send(
    tmp_path: Path, smtp: LocalSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICMO_HMAC_KEY", KEY.decode())
    reset_settings()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ids = add_contacts(engine, 300)
    email_of = {cid: f"p{i}@example.com" for i, cid in enumerate(ids)}
    campaign_id = started(engine, ab_definition("killed-ab", ids))
    expected = assign(KEY, campaign_id, dict.fromkeys(ids, ""), variants=2, holdout=0.1, sample=230)

    # one kill is the point; tests/publishing kills the sender many times
    kills, _ = kill_mid_send_then_finish(url, campaign_id, smtp, 300, kills=1, seed=16)
    assert kills >= 1, "the sender finished before it could be killed; slow it down"

    with transaction(engine) as session:
        recorded = {c: v for c, v in ledger_variants(session, campaign_id, "email").items() if v is not None}
    assert recorded == expected.test
    per = smtp.per_recipient()
    assert max(per.values()) == 1, "a recipient got two copies"
    unknown = {cid for _, cid, _, _ in status(engine, "killed-ab").unknown}
    subjects = {str(m["To"]).lower(): str(m["Subject"]) for m in smtp.messages()}
    for cid, variant in expected.test.items():
        subject = subjects.get(email_of[cid])
        assert subject is not None or cid in unknown, (
            "a test recipient was skipped without being listed unknown"
        )
        if subject is not None:
            assert subject.startswith("B: ") == (variant == 1)
    assert not {email_of[c] for c in expected.holdout} & set(per)
    assert status(engine, "killed-ab").status == "testing"
    engine.dispose()
