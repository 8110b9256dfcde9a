"""Other tools' export columns map to the consent and suppression they mean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aicmo.errors import InputError
from aicmo.tasks.crm.csv_reading import header_key
from aicmo.tasks.crm.export_status import EmailStatus, email_status


def _status(**columns: str) -> EmailStatus:
    return email_status({header_key(k): v for k, v in columns.items()})


@pytest.mark.parametrize(
    ("columns", "consent", "suppression"),
    [
        ({"Status": "active"}, "confirmed", None),  # Keila
        ({"Status": "unsubscribed"}, "withdrawn", "unsubscribe"),
        ({"Status": "unreachable"}, None, "hard_bounce"),
        ({"subscribed_to_emails": "false"}, "withdrawn", "unsubscribe"),  # Ghost
        ({"subscribed_to_emails": "true"}, "confirmed", None),
        ({"status": "blocklisted"}, "withdrawn", "manual"),  # listmonk
        ({"status": "enabled"}, "confirmed", None),
        ({"doNotEmail": "yes"}, "withdrawn", "unsubscribe"),  # Mautic
        ({"doNotEmail": "0"}, None, None),
        ({"Status": "cleaned"}, None, "hard_bounce"),  # Mailchimp
        ({"Status": "pending"}, "pending", None),
        ({"Status": "transactional"}, None, None),
        ({"UNSUB_TIME": "2026-03-01 09:00:00"}, "withdrawn", "unsubscribe"),  # unsubscribed export
        ({"CLEAN_TIME": "2026-03-01 09:00:00"}, None, "hard_bounce"),  # cleaned export
        ({"Status": "subscribed", "UNSUB_TIME": "2026-03-01 09:00:00"}, "withdrawn", "unsubscribe"),
    ],
)
def test_each_tools_columns_map_to_consent_and_suppression(
    columns: dict[str, str], consent: str | None, suppression: str | None
) -> None:
    status = _status(**columns)
    assert (status.consent, status.suppression) == (consent, suppression)


def test_mailchimp_opt_in_and_confirm_times_and_rating() -> None:
    status = _status(OPTIN_TIME="2026-01-02 10:00:00", CONFIRM_TIME="2026-01-02 10:05:00", MEMBER_RATING="4")
    assert status.consent == "confirmed"
    assert status.opted_in_at == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    assert status.confirmed_at == datetime(2026, 1, 2, 10, 5, tzinfo=UTC)
    assert status.tags == ("member_rating:4",)


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        ({"Status": "maybe"}, "status: unknown subscription status 'maybe'"),
        ({"subscribed_to_emails": "sometimes"}, "subscribedtoemails: expected true or false"),
        ({"OPTIN_TIME": "last tuesday"}, "optintime: not a date and time"),
        ({"MEMBER_RATING": "9"}, "memberrating: expected a rating from 1 to 5"),
    ],
)
def test_values_it_cannot_read_are_errors_naming_the_column(columns: dict[str, str], words: str) -> None:
    with pytest.raises(InputError, match=words):
        _status(**columns)
