"""The per-campaign send rate, observed where it matters: at the SMTP server.

The sender paces each channel with a token bucket (a burst of one second's worth, then the
rate). A slow machine can only delay messages, and each connection waits for the server's 250
before its next message, so at most ``smtp_connections`` messages are ever between the bucket
and the server. Hence, whatever the load: in any window of ``w`` seconds the server sees at
most ``burst + rate * w + connections`` arrivals. Without pacing, the messages below would all
arrive within a few hundredths of a second on loopback and break that bound.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.tasks.publishing.definition import parse_definition
from tests.publishing.helpers import add_contacts, email_definition, run, started

MESSAGES = 30
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


def _allowed(rate_per_s: float, connections: int) -> int:
    burst = max(1.0, rate_per_s)
    return int(burst + rate_per_s * WINDOW_S + connections) + 1  # +1: float rounding at the edges


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
    assert max(1.0, per_s) + per_s * span + 2 + 1 >= MESSAGES


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
