"""What another tool's contact export says about email consent: opted in, pending, unsubscribed, bounced.

Keila, Ghost, listmonk, Mautic and Mailchimp each write subscription state in their own columns.
A migration must carry it over, or people who opted out elsewhere get mailed here. Each row's
columns map to one :class:`EmailStatus`: the consent to record (with opt-in and confirmation times
when the file has them), and a suppression reason when the person must not be mailed.

Columns recognised (header matched case- and punctuation-insensitively):

| tool | column | values |
| --- | --- | --- |
| Keila | ``Status`` | ``active`` (opted in), ``unsubscribed``, ``unreachable`` (bounced) |
| Ghost | ``subscribed_to_emails`` | ``true`` / ``false`` |
| listmonk | ``status`` | ``enabled``, ``disabled``, ``blocklisted`` |
| Mautic | ``doNotEmail`` (also ``dnc``, ``do_not_contact``) | ``true``/``1``/``on``/``yes`` is true |
| Mailchimp | ``Status`` | ``subscribed``, ``pending``, ``unsubscribed``, ``cleaned``, ``transactional`` |
| Mailchimp | ``OPTIN_TIME``, ``CONFIRM_TIME`` | opt-in request and confirmation times |
| Mailchimp | ``UNSUB_TIME`` (unsubscribed export), ``CLEAN_TIME`` (cleaned export) | set: unsubscribed / bounced |
| Mailchimp | ``MEMBER_RATING`` | 1-5, kept as the tag ``member_rating:N`` |
| any | ``unsubscribed``, ``email_opt_out``, ``opted_out`` | a true value: unsubscribed |

A column with a value it does not know is a row error naming the column and the value: a guessed
consent is worse than none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aicmo.errors import InputError

TRUE_WORDS = frozenset({"true", "1", "on", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "off", "no", "n", "f", ""})

CONFIRMED, PENDING, WITHDRAWN = "confirmed", "pending", "withdrawn"

# status word -> (consent, suppression reason); None consent leaves consent as it is.
_STATUS_WORDS: dict[str, tuple[str | None, str | None]] = {
    "active": (CONFIRMED, None),  # Keila
    "subscribed": (CONFIRMED, None),  # Mailchimp
    "enabled": (CONFIRMED, None),  # listmonk
    "confirmed": (CONFIRMED, None),
    "pending": (PENDING, None),  # Mailchimp double opt-in not yet confirmed
    "unconfirmed": (PENDING, None),
    "transactional": (None, None),  # Mailchimp: never opted in to marketing
    "unsubscribed": (WITHDRAWN, "unsubscribe"),
    "unreachable": (None, "hard_bounce"),  # Keila
    "cleaned": (None, "hard_bounce"),  # Mailchimp
    "bounced": (None, "hard_bounce"),
    "complained": (WITHDRAWN, "complaint"),
    "blocklisted": (WITHDRAWN, "manual"),  # listmonk
    "blacklisted": (WITHDRAWN, "manual"),
    "disabled": (WITHDRAWN, "manual"),  # listmonk: no longer receives anything
}

STATUS_COLUMNS = ("status", "memberstatus", "subscriptionstatus", "subscriberstatus")
SUBSCRIBED_COLUMNS = ("subscribedtoemails", "subscribed", "emailsubscribed")
OPT_OUT_COLUMNS = ("donotemail", "dnc", "donotcontact", "unsubscribed", "emailoptout", "optedout")
OPTIN_TIME_COLUMNS = ("optintime", "optedinat", "subscribedat")
CONFIRM_TIME_COLUMNS = ("confirmtime", "confirmedat")
UNSUB_TIME_COLUMNS = ("unsubtime", "unsubscribedat")
CLEAN_TIME_COLUMNS = ("cleantime",)
RATING_COLUMNS = ("memberrating",)

KNOWN_COLUMNS = frozenset(
    STATUS_COLUMNS
    + SUBSCRIBED_COLUMNS
    + OPT_OUT_COLUMNS
    + OPTIN_TIME_COLUMNS
    + CONFIRM_TIME_COLUMNS
    + UNSUB_TIME_COLUMNS
    + CLEAN_TIME_COLUMNS
    + RATING_COLUMNS
)


@dataclass(frozen=True)
class EmailStatus:
    """The email consent a row carries, and why its address must not be mailed (if it must not)."""

    consent: str | None = None
    suppression: str | None = None
    opted_in_at: datetime | None = None
    confirmed_at: datetime | None = None
    tags: tuple[str, ...] = ()

    @property
    def says_anything(self) -> bool:
        """Whether the row changes consent, suppression, times or tags at all."""
        return bool(self.consent or self.suppression or self.opted_in_at or self.confirmed_at or self.tags)


def parse_time(value: str, column: str) -> datetime | None:
    """An export timestamp (ISO 8601, with or without a zone; naive is UTC), None when empty."""
    text = value.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{column}: not a date and time: {value!r} (expected e.g. 2026-01-02 10:00:00)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _flag(value: str, column: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InputError(f"{column}: expected true or false, got {value!r}")


def email_status(cells: dict[str, str]) -> EmailStatus:
    """The status of one row from its recognised columns (``{header_key(column): value}``, ``header_key`` from ``csv_reading``).

    Opt-outs win over opt-ins: a row that says both subscribed and unsubscribed (e.g. a Mailchimp
    row with an ``UNSUB_TIME``) is unsubscribed. InputError names the column of a value it cannot read.
    """
    consent: str | None = None
    suppression: str | None = None
    for key in STATUS_COLUMNS:
        raw = cells.get(key, "").strip()
        if raw:
            if raw.lower() not in _STATUS_WORDS:
                known = ", ".join(sorted(_STATUS_WORDS))
                raise InputError(f"{key}: unknown subscription status {raw!r} (known: {known})")
            consent, suppression = _STATUS_WORDS[raw.lower()]
    for key in SUBSCRIBED_COLUMNS:
        if cells.get(key, "").strip():
            subscribed = _flag(cells[key], key)
            consent, suppression = (CONFIRMED, None) if subscribed else (WITHDRAWN, "unsubscribe")
    for key in OPT_OUT_COLUMNS:
        if cells.get(key, "").strip() and _flag(cells[key], key):
            consent, suppression = WITHDRAWN, "unsubscribe"
    opted_in = _first_time(cells, OPTIN_TIME_COLUMNS)
    confirmed = _first_time(cells, CONFIRM_TIME_COLUMNS)
    if _first_time(cells, UNSUB_TIME_COLUMNS):
        consent, suppression = WITHDRAWN, "unsubscribe"
    if _first_time(cells, CLEAN_TIME_COLUMNS):
        suppression = "hard_bounce"
    if consent is None and confirmed is not None and suppression is None:
        consent = CONFIRMED
    tags: tuple[str, ...] = ()
    for key in RATING_COLUMNS:
        raw = cells.get(key, "").strip()
        if raw:
            if not raw.isdigit() or not 1 <= int(raw) <= 5:
                raise InputError(f"{key}: expected a rating from 1 to 5, got {raw!r}")
            tags = (f"member_rating:{int(raw)}",)
    return EmailStatus(consent, suppression, opted_in, confirmed, tags)


def _first_time(cells: dict[str, str], keys: tuple[str, ...]) -> datetime | None:
    for key in keys:
        value = cells.get(key)
        if value:
            when = parse_time(value, key)
            if when is not None:
                return when
    return None
