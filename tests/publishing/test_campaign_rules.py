"""Campaign rules a marketer relies on: frequency cap, cancel, send time, events for skips."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.models.base import utcnow
from aicmo.storage.lake import Lake
from aicmo.tasks.publishing.campaigns import cancel, create_campaign, metrics, pause, schedule, start, status
from tests.publishing.helpers import add_contacts, email_definition, run, started


async def test_frequency_cap_skips_contacts_who_had_enough_this_window(
    engine: Engine, smtp: LocalSmtpServer, lake: Lake
) -> None:
    ids = add_contacts(engine, 6)
    settings = smtp.settings(frequency_cap=1, frequency_window_h=24)
    first = started(engine, email_definition("first", ids[:3]))
    await run(engine, first, settings, lake)
    second = started(engine, email_definition("second", ids))
    report = await run(engine, second, settings, lake)

    assert report.finished and report.skipped == {"frequency_cap": 3}
    assert smtp.count == 6 and max(smtp.per_recipient().values()) == 1
    events = metrics(lake, second)
    counts = {(r["type"]): r["events"] for r in events.iter_rows(named=True)}
    assert counts == {"send": 3, "skip": 3}
    skips = lake.scan("events").filter(pl.col("type") == "skip").collect()
    assert set(skips["reason"]) == {"frequency_cap"}


async def test_cancel_mid_campaign_skips_the_rest(engine: Engine, smtp: LocalSmtpServer) -> None:
    import asyncio

    ids = add_contacts(engine, 40)
    campaign_id = started(engine, email_definition("stop", ids))
    # 10 a second (a burst of 10, then one every 0.1 s): the first window of 20 takes about a
    # second, so the cancel lands mid-campaign; at 80 a second all 40 fit in the first burst.
    task = asyncio.create_task(run(engine, campaign_id, smtp.settings(rate_limit_per_s=10), poll_s=0.1))
    while smtp.count < 3:
        await asyncio.sleep(0.01)
    cancel(engine, "stop")
    report = await asyncio.wait_for(task, 30)
    st = status(engine, "stop")
    assert st.status == "cancelled" and report.status == "cancelled"
    sent = st.ledger.get(("sent", "email"), 0)
    assert sent == smtp.count < 40
    assert st.ledger.get(("skipped", "email"), 0) == 40 - sent
    assert st.skip_reasons == {"cancelled": 40 - sent}
    with pytest.raises(InputError, match="is cancelled; cannot pause"):
        pause(engine, "stop")


def test_a_campaign_waits_for_its_send_time(engine: Engine) -> None:
    ids = add_contacts(engine, 2)
    later = utcnow() + timedelta(hours=2)
    campaign_id = create_campaign(engine, email_definition("later", ids, send_at=later.isoformat()))
    schedule(engine, "later")
    assert not start(engine, campaign_id)
    assert status(engine, "later").ledger == {}
    assert start(engine, campaign_id, now=later + timedelta(seconds=1))
    assert status(engine, "later").ledger == {("pending", "email"): 2}
    assert start(engine, campaign_id)  # planning again adds nothing
    assert status(engine, "later").ledger == {("pending", "email"): 2}
