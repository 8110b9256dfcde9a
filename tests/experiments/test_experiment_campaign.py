"""An A/B test over a real SMTP server: holdout, test sample, decision on human clicks, winner to the rest."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.models.base import utcnow
from aicmo.settings import reset_settings
from aicmo.storage.db import transaction
from aicmo.storage.experiments import experiment_of, ledger_variants
from aicmo.storage.lake import Lake
from aicmo.tasks.experiments.assign import assign
from aicmo.tasks.experiments.decide import advance
from aicmo.tasks.experiments.planning import assignment_key
from aicmo.tasks.experiments.report import build_report, markdown, plot
from aicmo.tasks.publishing.campaigns import status
from aicmo.tasks.tracking.events import TrackedEvent, to_frame
from aicmo.tasks.tracking.variants import with_variants
from tests.experiments.helpers import ab_definition, write_clicks, write_orders
from tests.publishing.helpers import add_contacts, run, started

KEY = "experiments-test-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _hmac_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AICMO_HMAC_KEY", KEY)
    reset_settings()


def _subjects(smtp: LocalSmtpServer) -> dict[str, str]:
    return {str(m["To"]).lower(): str(m["Subject"]) for m in smtp.messages()}


def test_ab_test_picks_the_human_click_winner_and_sends_it_to_the_rest_once(
    sqlite_engine: Engine, lake: Lake, smtp: LocalSmtpServer, tmp_path: Path
) -> None:
    engine = sqlite_engine
    ids = add_contacts(engine, 400)
    email_of = {cid: f"p{i}@example.com" for i, cid in enumerate(ids)}
    campaign_id = started(engine, ab_definition("ab", ids))
    settings = smtp.settings(rate_limit_per_s=20_000)

    # the plan: 115 per variant for a 20-point difference; 10% held out, planned as skipped rows
    with transaction(engine) as session:
        variants = ledger_variants(session, campaign_id, "email")
        experiment = experiment_of(session, campaign_id)
        assert experiment is not None and experiment.per_variant == 115
        started_at = experiment.started_at
    expected = assign(KEY.encode(), campaign_id, dict.fromkeys(ids, ""), variants=2, holdout=0.1, sample=230)
    assert assignment_key() == KEY.encode()
    assert {c: v for c, v in variants.items() if v is not None} == expected.test
    assert Counter(v for v in variants.values() if v is not None) == {0: 115, 1: 115}
    held = set(expected.holdout)
    assert 25 <= len(held) <= 60 and held == {c for c, v in variants.items() if v is None}

    report = asyncio.run(run(engine, campaign_id, settings, lake))
    assert report.status == "testing" and report.sent == 230
    subjects = _subjects(smtp)
    for cid, v in expected.test.items():
        assert subjects[email_of[cid]].startswith("B: ") == (v == 1)

    # tracked events get the variant of their message from the ledger as they are flushed
    tracked = [
        TrackedEvent(f"t{cid}", utcnow(), "open", "email", "pixel", campaign_id=campaign_id, contact_id=cid)
        for cid in sorted(expected.test)[:20]
    ]
    stamped = with_variants(engine, to_frame(tracked))
    assert dict(stamped.select("contact_id", "variant_id").iter_rows()) == {
        cid: expected.test[cid] for cid in sorted(expected.test)[:20]
    }

    # B: 45% of its recipients click; A: 10%, plus a link scanner "clicking" every A message
    a_ids = sorted(c for c, v in expected.test.items() if v == 0)
    b_ids = sorted(c for c, v in expected.test.items() if v == 1)
    clicked = started_at + timedelta(hours=2)
    write_clicks(lake, campaign_id, a_ids[:12] + b_ids[:52], clicked, machine=False)
    write_clicks(lake, campaign_id, a_ids, clicked, machine=True)

    early = advance(engine, lake, campaign_id, now=started_at + timedelta(minutes=30))
    assert not early.decided  # the clicks came later: nothing to see yet
    progress = advance(engine, lake, campaign_id, now=started_at + timedelta(hours=3))
    assert progress.decided and progress.look is not None and progress.look.winner == 1
    assert progress.look.reason is not None and progress.look.reason.startswith("B beats A")
    assert progress.rest_planned == 400 - 230 - len(held)
    assert status(engine, "ab").status == "sending"

    final = asyncio.run(run(engine, campaign_id, settings, lake))
    assert final.status == "sent"
    per = smtp.per_recipient()
    assert max(per.values()) == 1
    assert not {email_of[c] for c in held} & set(per), "a held-out contact received the campaign"
    subjects = _subjects(smtp)
    for cid in expected.rest:
        assert subjects[email_of[cid]].startswith("B: ")
    assert status(engine, "ab").skip_reasons == {"holdout": len(held)}

    # the report: sends, clicks (human only), intervals, the decision; lift from orders
    write_orders(lake, {cid: 40.0 for cid in sorted(expected.rest)[:60]}, started_at + timedelta(hours=20))
    write_orders(lake, {cid: 40.0 for cid in sorted(held)[:2]}, started_at + timedelta(hours=20))
    rep = build_report(engine, lake, "ab", now=started_at + timedelta(hours=24))
    by_variant = {r["variant"]: r for r in rep.variants}
    assert by_variant["A"]["sends"] == 115 and by_variant["A"]["clicks"] == 12
    assert by_variant["B"]["clicks"] == 52 and by_variant["B"]["role"] == "challenger, winner"
    assert by_variant["B"]["sends"] == 115 and by_variant["B"]["sent_in_all"] == 115 + len(expected.rest)
    assert by_variant["B"]["p_always_valid"] <= 0.05
    assert rep.winner == "B" and rep.decided_at is not None
    lift = {r["measure"]: r for r in rep.lift}
    conv = lift["conversion per contact"]
    assert conv["contacts_holdout"] == len(held) and conv["low_95"] < conv["lift"] < conv["high_95"]
    png = plot(rep, tmp_path / "ab.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = markdown(rep, png)
    assert "data:image/png;base64," in md and "B beats A" in md


def test_no_difference_by_the_deadline_sends_the_configured_default_and_says_so(
    engine: Engine, lake: Lake, smtp: LocalSmtpServer
) -> None:
    ids = add_contacts(engine, 300)
    campaign_id = started(engine, ab_definition("tie", ids, default="B", holdout=0.0))
    asyncio.run(run(engine, campaign_id, smtp.settings(rate_limit_per_s=20_000), lake))
    with transaction(engine) as session:
        experiment = experiment_of(session, campaign_id)
        assert experiment is not None
        started_at, deadline = experiment.started_at, experiment.deadline_at
        variants = ledger_variants(session, campaign_id, "email")
    same = [c for c, v in sorted(variants.items()) if v is not None]
    write_clicks(lake, campaign_id, same[::10], started_at + timedelta(hours=1), machine=False)

    assert not advance(engine, lake, campaign_id, now=deadline - timedelta(hours=1)).decided
    progress = advance(engine, lake, campaign_id, now=deadline + timedelta(minutes=1))
    assert progress.decided and progress.look is not None and progress.look.winner == 1
    assert progress.look.reason == "no significant difference by the deadline: sending the default, B"
    assert progress.rest_planned == 300 - 230
    final = asyncio.run(run(engine, campaign_id, smtp.settings(rate_limit_per_s=20_000), lake))
    assert final.status == "sent" and smtp.count == 300 and max(smtp.per_recipient().values()) == 1
    rep = build_report(engine, lake, "tie", now=deadline + timedelta(minutes=2))
    assert rep.decision == progress.look.reason and rep.looks == 2


def test_a_delayed_variant_waits_for_its_send_time_and_revenue_counts_orders_after_the_send(
    sqlite_engine: Engine, lake: Lake, smtp: LocalSmtpServer
) -> None:
    engine = sqlite_engine
    ids = add_contacts(engine, 120)
    definition = ab_definition(
        "later",
        ids,
        variants=[{"name": "A"}, {"name": "B"}, {"name": "C", "send_delay_h": 3}],
        metric="revenue",
        baseline=20.0,
        mde=40.0,
        metric_sd=30.0,
        holdout=0.0,
    )
    campaign_id = started(engine, definition)
    report = asyncio.run(run(engine, campaign_id, smtp.settings(rate_limit_per_s=20_000), lake))
    with transaction(engine) as session:
        variants = ledger_variants(session, campaign_id, "email")
        experiment = experiment_of(session, campaign_id)
        assert experiment is not None
    sizes = Counter(variants.values())
    assert experiment.per_variant == 20 and sizes == {0: 20, 1: 20, 2: 20}  # the rest waits for the decision
    # C's rows are held back three hours: this run sends A and B and leaves the campaign sending
    assert report.sent == sizes[0] + sizes[1] and report.status == "sending"
    assert status(engine, "later").ledger == {("sent", "email"): report.sent, ("pending", "email"): sizes[2]}

    a_ids = sorted(c for c, v in variants.items() if v == 0)
    b_ids = sorted(c for c, v in variants.items() if v == 1)
    after = utcnow() + timedelta(minutes=1)
    write_orders(lake, {a_ids[0]: 30.0, a_ids[1]: 10.0}, after)
    write_orders(lake, {b_ids[0]: 99.0}, experiment.started_at - timedelta(hours=1))  # before its send
    rep = build_report(engine, lake, "later", now=after + timedelta(minutes=1))
    by_variant = {r["variant"]: r for r in rep.variants}
    assert by_variant["A"]["revenue"] == 40.0 and by_variant["A"]["per_send"] == 40.0 / sizes[0]
    assert by_variant["B"]["revenue"] == 0.0 and by_variant["C"]["sends"] == 0


def test_holdout_only_campaign_sends_to_the_rest_and_reports_lift_with_an_interval(
    sqlite_engine: Engine, lake: Lake, smtp: LocalSmtpServer
) -> None:
    engine = sqlite_engine
    ids = add_contacts(engine, 200)
    email_of = {cid: f"p{i}@example.com" for i, cid in enumerate(ids)}
    campaign_id = started(engine, ab_definition("ho", ids, variants=[], holdout=0.2))
    report = asyncio.run(run(engine, campaign_id, smtp.settings(rate_limit_per_s=20_000), lake))
    held = set(
        assign(
            KEY.encode(), campaign_id, dict.fromkeys(ids, ""), variants=0, holdout=0.2, sample=None
        ).holdout
    )
    assert report.status == "sent" and report.sent == 200 - len(held)
    assert status(engine, "ho").skip_reasons == {"holdout": len(held)}
    assert not {email_of[c] for c in held} & set(smtp.per_recipient())

    treated = [c for c in ids if c not in held]
    after = utcnow() + timedelta(minutes=1)
    write_orders(lake, {c: 50.0 for c in treated[::3]}, after)  # a third of the treated buy, nobody held out
    rep = build_report(engine, lake, "ho", now=after + timedelta(minutes=1))
    assert (
        rep.status == "decided" and rep.decision == "holdout only: no variants to test" and not rep.variants
    )
    lift = {r["measure"]: r for r in rep.lift}
    conv, revenue = lift["conversion per contact"], lift["revenue per contact"]
    assert conv["holdout"] == 0.0 and conv["treated"] == len(treated[::3]) / len(treated)
    assert 0 < conv["low_95"] < conv["lift"] < conv["high_95"]
    assert revenue["lift"] == pytest.approx(50.0 * conv["lift"]) and revenue["low_95"] > 0
