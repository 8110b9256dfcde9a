"""The per-campaign send rate, observed where it matters: at the SMTP server.

The senders of a campaign pace each channel on one schedule kept in the store (a burst of one
second's worth, then the rate), however many runs send it at once. A slow machine can only
delay messages (a run that falls behind drops its lapsed slots rather than catching up), and
each connection waits for the server's 250 before its next message, so at most
``smtp_connections`` messages per run are ever between the schedule and the server. Hence,
whatever the load: in any window of ``w`` seconds the server sees at most
``burst + rate * (w + 0.1) + runs * connections`` arrivals (0.1 s: how late a run may still use
a slot it reserved). Without pacing, the messages below would all
arrive within a few hundredths of a second on loopback and break that bound; with a rate per
run instead of per campaign, two runs would each take the burst and break it too.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.storage.pacing import reserve_slots
from aicmo.tasks.publishing.definition import parse_definition
from aicmo.tasks.publishing.pacing import LOOKAHEAD_S, CampaignPace
from tests.publishing.helpers import add_contacts, email_definition, run, sender, started

MESSAGES = 40
WINDOW_S = 0.25


def most_in_any_window(arrivals: list[float], width_s: float) -> int:
    """The most arrivals in any closed window of ``width_s`` seconds."""
    times = sorted(arrivals)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] > width_s:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_most_in_any_window_counts_the_densest_stretch() -> None:
    assert most_in_any_window([0.0, 0.1, 0.2, 1.0, 1.05, 1.1, 1.15], 0.2) == 4
    assert most_in_any_window([], 1.0) == 0


def _allowed(rate_per_s: float, connections: int, window_s: float = WINDOW_S) -> int:
    """The bound of the module docstring, +2: float rounding at the window's edges, and the
    schedule's epoch clock against the server's monotonic one (a few ms at most: < 1 message)."""
    burst = max(1.0, rate_per_s)
    return int(burst + rate_per_s * (window_s + LOOKAHEAD_S) + connections) + 2


@pytest.mark.parametrize(
    ("campaign_rate", "settings_rate", "per_s"),
    [
        ({"rate_limit_per_minute": 1200}, 100_000.0, 20.0),  # the campaign's own rate wins
        ({}, 20.0, 20.0),  # no campaign rate: AICMO_RATE_LIMIT_PER_S
    ],
    ids=["campaign-per-minute", "settings-per-second"],
)
async def test_arrivals_at_the_server_respect_the_campaign_rate(
    engine: Engine,
    smtp: LocalSmtpServer,
    campaign_rate: dict[str, float],
    settings_rate: float,
    per_s: float,
) -> None:
    ids = add_contacts(engine, MESSAGES)
    campaign_id = started(engine, email_definition("paced", ids, **campaign_rate))
    settings = smtp.settings(rate_limit_per_s=settings_rate, smtp_connections=2)
    report = await run(engine, campaign_id, settings)

    assert report.finished and report.sent == MESSAGES
    arrivals = smtp.arrivals
    assert len(arrivals) == MESSAGES
    assert _allowed(per_s, 2) < MESSAGES  # the check below could catch a sender that does not pace
    assert most_in_any_window(arrivals, WINDOW_S) <= _allowed(per_s, 2)
    # The same bound over the whole run: it lasted at least as long as the rate demands.
    span = arrivals[-1] - arrivals[0]
    assert max(1.0, per_s) + per_s * (span + LOOKAHEAD_S) + 2 + 2 >= MESSAGES


def test_two_concurrent_runs_share_one_campaign_rate(engine: Engine, smtp: LocalSmtpServer) -> None:
    """Two runs of one campaign, each with its own event loop and connections, send at the
    campaign's rate together, not at twice it."""
    rate, n, runs, connections = 20.0, 60, 2, 2
    ids = add_contacts(engine, n)
    campaign_id = started(engine, email_definition("shared", ids, rate_limit_per_s=rate))
    settings = smtp.settings(
        rate_limit_per_s=100_000, smtp_connections=connections, claim_batch=5, handover_window=5
    )
    reports = []
    gate = threading.Barrier(runs)

    def one() -> None:
        gate.wait(10)
        reports.append(asyncio.run(sender(engine, campaign_id, settings).run()))

    threads = [threading.Thread(target=one) for _ in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert len(reports) == runs and all(r.sent > 0 for r in reports), "both runs should have sent"
    assert sum(r.sent for r in reports) == n and smtp.count == n
    arrivals = smtp.arrivals
    in_flight = runs * connections
    # Per-run pacing would let 2 * 20 through at once: the bound below would catch it.
    assert 2 * rate > _allowed(rate, in_flight)
    for width in (WINDOW_S, 1.0):
        assert most_in_any_window(arrivals, width) <= _allowed(rate, in_flight, width), width
    # Over the whole run: the two runs together took as long as the one rate demands.
    span = arrivals[-1] - arrivals[0]
    assert rate + rate * (span + LOOKAHEAD_S) + in_flight + 2 >= n


def test_slots_follow_one_schedule_per_campaign_and_channel(engine: Engine) -> None:
    ids = add_contacts(engine, 1)
    campaign_id = started(engine, email_definition("slots", ids))
    now = time.time()
    assert reserve_slots(engine, campaign_id, "email", 10, rate=10.0, now=now) == pytest.approx(now)
    # The next reservation, by this sender or another, starts where the last one ended.
    assert reserve_slots(engine, campaign_id, "email", 5, rate=10.0, now=now) == pytest.approx(now + 1.0)
    assert reserve_slots(engine, campaign_id, "email", 1, rate=10.0, now=now + 0.2) == pytest.approx(
        now + 1.5
    )
    # Another channel has its own schedule; an idle campaign starts again from now.
    assert reserve_slots(engine, campaign_id, "sms", 1, rate=10.0, now=now) == pytest.approx(now)
    assert reserve_slots(engine, campaign_id, "email", 1, rate=10.0, now=now + 60) == pytest.approx(now + 60)


def test_a_campaign_gives_one_rate_not_two() -> None:
    ids = [1]
    with pytest.raises(InputError, match="rate_limit_per_s or rate_limit_per_minute, not both"):
        email_definition("both", ids, rate_limit_per_s=5, rate_limit_per_minute=300)
    with pytest.raises(InputError, match="rate_limit_per_minute"):
        email_definition("zero", ids, rate_limit_per_minute=0)
    definition = parse_definition(
        {
            "name": "slow",
            "channels": ["email"],
            "audience": {"contact_ids": ids},
            "rate_limit_per_minute": 90,
            "messages": {"email": {"subject": "Hi", "text": "Hello"}},
        }
    )
    assert definition.rate_limit_per_s == 1.5


async def test_a_run_that_fell_behind_drops_its_lapsed_slots_instead_of_bursting(
    sqlite_engine: Engine,
) -> None:
    ids = add_contacts(sqlite_engine, 1)
    campaign_id = started(sqlite_engine, email_definition("behind", ids))
    now = [1000.0]
    pace = CampaignPace(sqlite_engine, campaign_id, "email", 100.0, burst=1, clock=lambda: now[0])
    await pace.acquire()  # reserves 10 slots: 1000.00, 1000.01, ... 1000.09
    await pace.acquire()
    assert pace.reservations == 1
    now[0] = 1000.5  # stalled: the 8 slots left are all more than 0.1 s in the past
    for _ in range(5):
        await pace.acquire()  # none of them is spent in a catch-up burst: new slots, due from now on
    assert pace.reservations == 2
    assert reserve_slots(sqlite_engine, campaign_id, "email", 1, rate=100.0, now=1000.5) == pytest.approx(
        1000.6
    )
