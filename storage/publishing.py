"""The send ledger and campaigns in the store: planning, claiming with a lease, marking, reaping, counts.

Every write here is one transaction. Claims are atomic on both dialects: on PostgreSQL the rows
are picked with ``FOR UPDATE SKIP LOCKED`` so two senders never wait on, or take, each other's
rows; on SQLite the ``BEGIN IMMEDIATE`` transaction (``storage/db.py``) serializes claimers.
Eligibility (consent, suppression, frequency cap, address) is checked again inside the claim's
transaction by a callback the publishing library supplies, so a contact who unsubscribed a
second ago is skipped, not sent to.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.crm import Contact
from aicmo.models.media import Asset
from aicmo.models.publishing import (
    CLAIMED,
    FAILED_PERMANENT,
    FAILED_TRANSIENT,
    PENDING,
    SENT,
    SETTLED_STATES,
    SKIPPED,
    UNKNOWN,
    Campaign,
    OutboxMessage,
    PushEndpoint,
)
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.upsert import bulk_upsert

_CHUNK = 5_000
_LEDGER: Table = OutboxMessage.__table__  # type: ignore[assignment]  # Core table: executemany UPDATEs by id


def idempotency_key(campaign_id: int, contact_id: int | None, channel: str) -> str:
    """The ledger row's key: the same (campaign, contact, channel) always gives the same key."""
    raw = f"aicmo:{campaign_id}:{'-' if contact_id is None else contact_id}:{channel}"
    return hashlib.sha256(raw.encode()).hexdigest()


# ---- campaigns --------------------------------------------------------------------------------
def upsert_campaign(session: Session, values: dict[str, Any]) -> Campaign:
    """Create the campaign ``values['name']``, or replace a draft of that name; returns it.

    A campaign past draft keeps its definition: changing what was scheduled or sent would make
    the ledger disagree with it.
    """
    existing = session.scalar(select(Campaign).where(Campaign.name == values["name"]))
    if existing is not None and existing.status != "draft":
        raise InputError(f"campaign {values['name']!r} is {existing.status}; only a draft can be redefined")
    campaign = existing or Campaign(name=values["name"])
    for key, value in values.items():
        setattr(campaign, key, value)
    campaign.status = "draft"
    campaign.status_changed_at = utcnow()
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, name: str) -> Campaign:
    """The campaign named ``name``; InputError naming a few known ones if there is none."""
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        known = list(session.scalars(select(Campaign.name).order_by(Campaign.id.desc()).limit(5)))
        raise InputError(f"no campaign named {name!r} (recent: {', '.join(known) or 'none'})")
    return campaign


def campaign_by_id(session: Session, campaign_id: int) -> Campaign:
    """The campaign with ``campaign_id`` (InputError if it is gone)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise InputError(f"no campaign with id {campaign_id}")
    return campaign


def list_campaigns(session: Session, *, limit: int = 100) -> list[Campaign]:
    """The newest campaigns first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit)))


def set_status(session: Session, campaign_id: int, status: str, reason: str | None = None) -> None:
    """Move a campaign to ``status`` (the caller checked the transition)."""
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(status=status, status_reason=reason, status_changed_at=utcnow())
    )


def campaign_status(engine: Engine, campaign_id: int) -> str | None:
    """The campaign's status, read fresh (the sender polls it to honour a pause)."""
    with engine.connect() as conn:
        return conn.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


def due_campaign_ids(session: Session, now: datetime) -> list[int]:
    """Scheduled campaigns whose time has come, and campaigns left sending by an earlier run."""
    return list(
        session.scalars(
            select(Campaign.id)
            .where(
                or_(
                    and_(
                        Campaign.status == "scheduled",
                        or_(Campaign.send_at.is_(None), Campaign.send_at <= now),
                    ),
                    Campaign.status == "sending",
                )
            )
            .order_by(Campaign.id)
        )
    )


# ---- contacts, endpoints and assets the channels need -------------------------------------------
@dataclass(frozen=True)
class Recipient:
    """What a template and a channel may know about a contact."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    company_name: str | None
    city: str | None
    country: str | None
    tier: str | None


_CONTACTS: Table = Contact.__table__  # type: ignore[assignment]
_RECIPIENTS = select(*(_CONTACTS.c[name] for name in Recipient.__dataclass_fields__)).where(
    _CONTACTS.c.id.in_(bindparam("ids", expanding=True))
)
"""Core, not ORM: a claimed batch's contacts are read row by row without the ORM's loading."""


def recipients(session: Session, contact_ids: Sequence[int]) -> dict[int, Recipient]:
    """``{contact_id: Recipient}`` of the contacts that still exist."""
    out: dict[int, Recipient] = {}
    ids = list(contact_ids)
    for start in range(0, len(ids), _CHUNK):
        for row in session.execute(_RECIPIENTS, {"ids": ids[start : start + _CHUNK]}):
            out[row[0]] = Recipient(*row)
    return out


def contact_id_by_email(session: Session, email: str) -> int | None:
    """The id of the contact with this (normalized) email."""
    return session.scalar(select(Contact.id).where(Contact.email == email))


def existing_contact_ids(session: Session, contact_ids: Sequence[int]) -> list[int]:
    """The ids of ``contact_ids`` that are in the store, in order."""
    found: set[int] = set()
    ids = list(contact_ids)
    for start in range(0, len(ids), _CHUNK):
        found.update(session.scalars(select(Contact.id).where(Contact.id.in_(ids[start : start + _CHUNK]))))
    return [cid for cid in dict.fromkeys(ids) if cid in found]


def add_push_endpoint(
    session: Session,
    contact_id: int,
    kind: str,
    token: str,
    *,
    p256dh: str | None = None,
    auth: str | None = None,
) -> None:
    """Register a device token (``fcm``) or a web push subscription (``webpush``) for a contact."""
    row = {
        "contact_id": contact_id,
        "kind": kind,
        "token": token,
        "p256dh": p256dh,
        "auth": auth,
        "created_at": utcnow(),
    }
    bulk_upsert(session, PushEndpoint.__table__, [row], ("kind", "token"), ["contact_id", "p256dh", "auth"])


def push_endpoints(session: Session, contact_ids: Sequence[int], kind: str) -> dict[int, list[PushEndpoint]]:
    """Each contact's endpoints of ``kind``."""
    out: dict[int, list[PushEndpoint]] = {}
    ids = list(contact_ids)
    for start in range(0, len(ids), _CHUNK):
        for endpoint in session.scalars(
            select(PushEndpoint).where(
                PushEndpoint.contact_id.in_(ids[start : start + _CHUNK]), PushEndpoint.kind == kind
            )
        ):
            out.setdefault(endpoint.contact_id, []).append(endpoint)
    return out


def drop_push_endpoints(session: Session, kind: str, tokens: Sequence[str]) -> int:
    """Delete endpoints the push service reported gone; returns how many were deleted."""
    if not tokens:
        return 0
    result = session.execute(
        delete(PushEndpoint).where(PushEndpoint.kind == kind, PushEndpoint.token.in_(list(tokens)))
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class AssetFile:
    """An approved asset a message may attach."""

    id: int
    name: str
    path: str
    mime_type: str | None


def approved_assets(session: Session, asset_ids: Sequence[int]) -> tuple[list[AssetFile], list[int]]:
    """The approved assets among ``asset_ids``, and the ids that are missing or not approved."""
    rows = {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(list(asset_ids))))}
    approved = [
        AssetFile(a.id, a.name, a.path, a.mime_type)
        for aid in asset_ids
        if (a := rows.get(aid)) is not None and a.status == "approved"
    ]
    rejected = [aid for aid in asset_ids if aid not in {a.id for a in approved}]
    return approved, rejected


# ---- the ledger -------------------------------------------------------------------------------
def plan(
    session: Session,
    campaign_id: int,
    contact_ids: Sequence[int],
    channels: Sequence[str],
    *,
    per_campaign_channels: Sequence[str] = (),
    variant_of: Callable[[int], int | None] | None = None,
    not_before: Callable[[int], datetime | None] | None = None,
    skip_reason: str | None = None,
) -> int:
    """Write one pending row per (contact, channel), and one per campaign for ``per_campaign_channels``.

    Rows already planned are left alone (``ON CONFLICT DO NOTHING`` on the idempotency key), so
    planning again after a crash or a resume adds only what is missing. Returns rows offered.
    ``variant_of`` gives a contact's variant, ``not_before`` holds its rows back until a time (a
    variant's send time), and ``skip_reason`` plans the rows settled as skipped (a holdout).
    """
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for channel in channels:
        targets: Sequence[int | None] = [None] if channel in per_campaign_channels else contact_ids
        for cid in targets:
            rows.append(
                {
                    "campaign_id": campaign_id,
                    "contact_id": cid,
                    "channel": channel,
                    "idempotency_key": idempotency_key(campaign_id, cid, channel),
                    "state": PENDING if skip_reason is None else SKIPPED,
                    "reason": skip_reason,
                    "attempts": 0,
                    "variant_id": variant_of(cid) if (variant_of is not None and cid is not None) else None,
                    "next_attempt_at": not_before(cid)
                    if (not_before is not None and cid is not None)
                    else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    return bulk_upsert(session, OutboxMessage.__table__, rows, ("idempotency_key",), [])


@dataclass(frozen=True)
class LedgerRow:
    """A claimed row, as a sender sees it."""

    id: int
    campaign_id: int
    contact_id: int | None
    channel: str
    idempotency_key: str
    attempts: int
    variant_id: int | None


EligibilityCheck = Callable[[Session, list[LedgerRow]], dict[int, str]]
"""Given claimed rows, ``{row_id: skip reason}`` for those that must not be sent now."""

_RETURNING = (
    OutboxMessage.id,
    OutboxMessage.campaign_id,
    OutboxMessage.contact_id,
    OutboxMessage.channel,
    OutboxMessage.idempotency_key,
    OutboxMessage.attempts,
    OutboxMessage.variant_id,
)


def claim(
    engine: Engine,
    campaign_id: int,
    worker: str,
    *,
    limit: int,
    lease_s: float,
    check: EligibilityCheck | None = None,
    channels: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[LedgerRow]:
    """Claim up to ``limit`` sendable rows of a sending campaign for ``worker``, with a lease.

    Returns nothing when the campaign is not ``sending`` (paused, cancelled...). Rows ``check``
    rejects are settled as skipped, with the reason, in the same transaction.
    """
    now = now or utcnow()
    with transaction(engine) as session:
        status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        if status != "sending":
            return []
        pick = (
            select(OutboxMessage.id)
            .where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.state.in_((PENDING, FAILED_TRANSIENT)),
                or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if channels is not None:
            pick = pick.where(OutboxMessage.channel.in_(list(channels)))
        if session.get_bind().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(pick.scalar_subquery()))
            .values(
                state=CLAIMED,
                claimed_by=worker,
                claimed_at=now,
                lease_expires_at=now + timedelta(seconds=lease_s),
                handed_at=None,
                updated_at=now,
            )
            .returning(*_RETURNING)
            .execution_options(synchronize_session=False)
        )
        rows = sorted((LedgerRow(*r) for r in session.execute(stmt)), key=lambda r: r.id)
        if not rows or check is None:
            return rows
        skipped = check(session, rows)
        if skipped:
            session.execute(
                update(_LEDGER)
                .where(_LEDGER.c.id == bindparam("row_id"))
                .values(
                    state=SKIPPED,
                    reason=bindparam("why"),
                    claimed_by=None,
                    lease_expires_at=None,
                    updated_at=now,
                ),
                [{"row_id": rid, "why": why} for rid, why in skipped.items()],
            )
        return [r for r in rows if r.id not in skipped]


_NOW = bindparam("now", type_=_LEDGER.c.updated_at.type)
_HAND = (
    update(_LEDGER)
    .where(
        _LEDGER.c.id.in_(bindparam("ids", expanding=True)),
        _LEDGER.c.claimed_by == bindparam("worker"),
        _LEDGER.c.state == CLAIMED,
    )
    .values(handed_at=_NOW, lease_expires_at=bindparam("lease", type_=_NOW.type), updated_at=_NOW)
)
_SETTLE = (
    update(_LEDGER)
    .where(_LEDGER.c.id == bindparam("row_id"), _LEDGER.c.claimed_by == bindparam("worker"))
    .values(
        state=bindparam("b_state"),
        reason=bindparam("b_reason"),
        attempts=_LEDGER.c.attempts + bindparam("tried"),
        provider_message_id=bindparam("pmid"),
        last_error=bindparam("err"),
        sent_at=bindparam("b_sent_at", type_=_NOW.type),
        next_attempt_at=bindparam("next_at", type_=_NOW.type),
        claimed_by=None,
        lease_expires_at=None,
        handed_at=None,
        updated_at=_NOW,
    )
)
"""Settles one row the worker still holds; executemany'd over a window (no ORM, one compiled statement)."""


def _settle_many(dialect: str) -> Any:
    """One UPDATE settling a window's rows from a JSON array ``[[id, state, reason, tried, pmid, error], ...]``.

    ``UPDATE ... FROM json_each`` (SQLite) / ``jsonb_array_elements`` (PostgreSQL): one statement
    and one parameter for the window, where an executemany costs the driver a parameter set (and
    five timestamp conversions) per row. Rows with a retry time go through ``_SETTLE``. SQLite
    needs 3.33 or later (``UPDATE ... FROM``) with its JSON functions.
    """
    if dialect == "postgresql":
        rows = func.jsonb_array_elements(cast(bindparam("rows", type_=String), JSONB))
    else:
        rows = func.json_each(bindparam("rows", type_=String))
    j = rows.table_valued("value").alias("j")

    def item(i: int) -> Any:
        if dialect == "postgresql":
            return j.c.value.op("->>")(literal_column(str(i)))
        return func.json_extract(j.c.value, f"$[{i}]")  # not ->>, which needs SQLite 3.38

    return (
        update(_LEDGER)
        .where(
            _LEDGER.c.id == cast(item(0), BigInteger),
            _LEDGER.c.claimed_by == bindparam("worker"),
        )
        .values(
            state=item(1),
            reason=item(2),
            attempts=_LEDGER.c.attempts + cast(item(3), Integer),
            provider_message_id=item(4),
            last_error=item(5),
            sent_at=case((item(1) == SENT, _NOW), else_=None),
            next_attempt_at=None,
            claimed_by=None,
            lease_expires_at=None,
            handed_at=None,
            updated_at=_NOW,
        )
        .execution_options(synchronize_session=False)
    )


_SETTLE_MANY = {name: _settle_many(name) for name in ("sqlite", "postgresql")}
_ATTEMPTS = select(_LEDGER.c.id, _LEDGER.c.attempts).where(
    _LEDGER.c.id.in_(bindparam("ids", expanding=True)), _LEDGER.c.claimed_by == bindparam("worker")
)


def mark_handed(engine: Engine, row_ids: Sequence[int], worker: str, *, lease_s: float) -> int:
    """Record that these rows are about to go to the channel (and renew the lease); returns rows held.

    Committed before the hand-over: a sender killed after this leaves the rows ``unknown``.
    Rows the worker no longer holds (reaped) are left alone and not counted.
    """
    return mark(engine, [], worker, max_attempts=1, hand=row_ids, lease_s=lease_s)


@dataclass(frozen=True)
class Outcome:
    """The verdict on one row after its hand-over (or after it was never tried)."""

    row_id: int
    state: str  # sent | unknown | failed_transient | failed_permanent | skipped | pending (released)
    provider_message_id: str | None = None
    error: str | None = None
    reason: str | None = None
    retry_after_s: float | None = None


def mark(
    engine: Engine,
    outcomes: Sequence[Outcome],
    worker: str,
    *,
    max_attempts: int,
    backoff_s: float = 5.0,
    then: Callable[[Session], None] | None = None,
    hand: Sequence[int] = (),
    lease_s: float = 0.0,
) -> int:
    """Settle (or release) rows this worker holds, run ``then``, and mark ``hand`` handed: one transaction.

    A transient failure goes back to the queue after a backoff (``retry_after_s`` if the channel
    gave one) until ``max_attempts`` is reached, then fails permanently. ``pending`` releases a
    row that was never handed over (pause, halt), without counting an attempt. Rows no longer
    held (reaped meanwhile: another run owns their fate now) are left alone.

    ``hand`` are the rows about to go to the channel next (see ``mark_handed``, with a lease of
    ``lease_s``); returns how many of them the worker still holds. Settling one window and
    handing the next over in the same commit keeps at most one window handed and unsettled.
    """
    if not outcomes and not hand:
        return 0
    now = utcnow()
    with transaction(engine) as session:
        if outcomes:
            _settle(session, outcomes, worker, now, max_attempts, backoff_s)
        if then is not None:
            then(session)
        if not hand:
            return 0
        result = session.execute(
            _HAND,
            {"ids": list(hand), "worker": worker, "now": now, "lease": now + timedelta(seconds=lease_s)},
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _settle(
    session: Session,
    outcomes: Sequence[Outcome],
    worker: str,
    now: datetime,
    max_attempts: int,
    backoff_s: float,
) -> None:
    # Attempts so far are read only for transient failures (their backoff and the retry limit
    # depend on them); every other row's count is bumped in SQL.
    retried = [o.row_id for o in outcomes if o.state == FAILED_TRANSIENT]
    attempts: dict[int, int] = {}
    if retried:
        attempts = {rid: n for rid, n in session.execute(_ATTEMPTS, {"ids": retried, "worker": worker})}
    params: list[dict[str, Any]] = []
    many: list[list[Any]] = []
    for o in outcomes:
        state, reason, next_at = o.state, o.reason, None
        error = (o.error or "")[:2000] or None
        tried = 0 if o.state in (PENDING, SKIPPED) else 1  # this settle's attempt, if it was one
        if state == FAILED_TRANSIENT:
            if o.row_id not in attempts:
                continue  # reaped meanwhile
            so_far = attempts[o.row_id] + 1
            if so_far >= max_attempts:
                state, reason = FAILED_PERMANENT, "retries_exhausted"
            else:
                wait = o.retry_after_s if o.retry_after_s is not None else backoff_s * 2 ** (so_far - 1)
                next_at = now + timedelta(seconds=wait)
        if next_at is None:
            many.append([o.row_id, state, reason, tried, o.provider_message_id, error])
            continue
        params.append(
            {
                "row_id": o.row_id,
                "worker": worker,
                "b_state": state,
                "b_reason": reason,
                "tried": tried,
                "pmid": o.provider_message_id,
                "err": error,
                "b_sent_at": now if state == SENT else None,
                "next_at": next_at,
                "now": now,
            }
        )
    if many:
        statement = _SETTLE_MANY[session.get_bind().dialect.name]
        session.execute(statement, {"rows": json.dumps(many), "worker": worker, "now": now})
    if params:
        session.execute(_SETTLE, params)


def reap(
    engine: Engine,
    campaign_id: int | None = None,
    *,
    now: datetime | None = None,
    is_dead: Callable[[str], bool] | None = None,
) -> dict[str, int]:
    """Free claims whose lease expired (or whose worker is known dead): ``{"pending": n, "unknown": m}``.

    A row never handed over goes back to pending; a row handed over may have been delivered, so
    it becomes ``unknown`` and is listed, never resent on its own.
    """
    now = now or utcnow()
    with transaction(engine) as session:
        q = select(
            OutboxMessage.id,
            OutboxMessage.claimed_by,
            OutboxMessage.lease_expires_at,
            OutboxMessage.handed_at,
        )
        q = q.where(OutboxMessage.state == CLAIMED)
        if campaign_id is not None:
            q = q.where(OutboxMessage.campaign_id == campaign_id)
        back: list[int] = []
        lost: list[int] = []
        for rid, worker, lease, handed in session.execute(q):
            expired = lease is None or lease <= now
            if not expired and not (is_dead is not None and worker is not None and is_dead(worker)):
                continue
            (lost if handed is not None else back).append(rid)
        if back:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(back), OutboxMessage.state == CLAIMED)
                .values(state=PENDING, claimed_by=None, lease_expires_at=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        if lost:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(lost), OutboxMessage.state == CLAIMED)
                .values(
                    state=UNKNOWN,
                    reason="crashed_after_handover",
                    claimed_by=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        return {PENDING: len(back), UNKNOWN: len(lost)}


def skip_unsent(session: Session, campaign_id: int, reason: str) -> int:
    """Settle every row not yet handed over as skipped with ``reason`` (a cancelled campaign)."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.campaign_id == campaign_id,
            or_(
                OutboxMessage.state.in_((PENDING, FAILED_TRANSIENT)),
                and_(OutboxMessage.state == CLAIMED, OutboxMessage.handed_at.is_(None)),
            ),
        )
        .values(state=SKIPPED, reason=reason, claimed_by=None, lease_expires_at=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def counts(session: Session, campaign_id: int) -> dict[tuple[str, str], int]:
    """``{(state, channel): rows}`` of a campaign's ledger."""
    return {
        (state, channel): n
        for state, channel, n in session.execute(
            select(OutboxMessage.state, OutboxMessage.channel, func.count())
            .where(OutboxMessage.campaign_id == campaign_id)
            .group_by(OutboxMessage.state, OutboxMessage.channel)
        )
    }


def sent_contact_ids(session: Session, campaign_id: int, channel: str) -> list[int]:
    """The contacts a campaign's message on ``channel`` was sent to, in id order."""
    query = (
        select(OutboxMessage.contact_id)
        .where(
            OutboxMessage.campaign_id == campaign_id,
            OutboxMessage.channel == channel,
            OutboxMessage.state == "sent",
            OutboxMessage.contact_id.is_not(None),
        )
        .order_by(OutboxMessage.contact_id)
    )
    return [int(cid) for cid in session.scalars(query) if cid is not None]


def skip_reasons(session: Session, campaign_id: int) -> dict[str, int]:
    """``{reason: rows}`` of the campaign's skipped and permanently failed rows."""
    return {
        reason or "unspecified": n
        for reason, n in session.execute(
            select(OutboxMessage.reason, func.count())
            .where(
                OutboxMessage.campaign_id == campaign_id, OutboxMessage.state.in_((SKIPPED, FAILED_PERMANENT))
            )
            .group_by(OutboxMessage.reason)
        )
    }


def unsettled(engine: Engine, campaign_id: int) -> int:
    """Rows of the campaign that may still be sent (pending, claimed or waiting for a retry)."""
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.campaign_id == campaign_id, OutboxMessage.state.not_in(SETTLED_STATES))
            )
            or 0
        )


def next_retry_at(engine: Engine, campaign_id: int) -> datetime | None:
    """When the earliest row held back (a transient failure's backoff, a variant's send time) is due."""
    with engine.connect() as conn:
        return conn.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.state.in_((FAILED_TRANSIENT, PENDING)),
            )
        )


def unknown_rows(session: Session, campaign_id: int) -> list[tuple[int, int | None, str, str | None]]:
    """``(row id, contact id, channel, last error)`` of rows whose delivery is unknown."""
    return [
        tuple(r)  # type: ignore[misc]
        for r in session.execute(
            select(
                OutboxMessage.id, OutboxMessage.contact_id, OutboxMessage.channel, OutboxMessage.last_error
            )
            .where(OutboxMessage.campaign_id == campaign_id, OutboxMessage.state == UNKNOWN)
            .order_by(OutboxMessage.id)
        )
    ]


def recent_sends(
    session: Session, contact_ids: Sequence[int], channel: str, since: datetime
) -> dict[int, int]:
    """Messages sent to each contact on ``channel`` since ``since``, over every campaign (frequency cap)."""
    out: dict[int, int] = {}
    ids = list(contact_ids)
    for start in range(0, len(ids), _CHUNK):
        for cid, n in session.execute(
            select(OutboxMessage.contact_id, func.count())
            .where(
                OutboxMessage.contact_id.in_(ids[start : start + _CHUNK]),
                OutboxMessage.channel == channel,
                OutboxMessage.state == SENT,
                OutboxMessage.sent_at >= since,
            )
            .group_by(OutboxMessage.contact_id)
        ):
            if cid is not None:
                out[int(cid)] = int(n)
    return out


# ---- events -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SettledRow:
    """A settled row whose event is not yet in the lake."""

    id: int
    campaign_id: int
    contact_id: int | None
    channel: str
    idempotency_key: str
    state: str
    reason: str | None
    variant_id: int | None
    at: datetime


def unevented(session: Session, campaign_id: int, *, limit: int = 50_000) -> list[SettledRow]:
    """Settled rows of the campaign not yet written to the lake's events."""
    return [
        SettledRow(*r)
        for r in session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.campaign_id,
                OutboxMessage.contact_id,
                OutboxMessage.channel,
                OutboxMessage.idempotency_key,
                OutboxMessage.state,
                OutboxMessage.reason,
                OutboxMessage.variant_id,
                OutboxMessage.updated_at,
            )
            .where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.state.in_(SETTLED_STATES),
                OutboxMessage.evented_at.is_(None),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    ]


def mark_evented(engine: Engine, row_ids: Sequence[int]) -> None:
    """Remember that these rows' events are in the lake."""
    now = utcnow()
    ids = list(row_ids)
    with transaction(engine) as session:
        for start in range(0, len(ids), _CHUNK):
            session.execute(_EVENTED, {"ids": ids[start : start + _CHUNK], "now": now})


_EVENTED = (
    update(_LEDGER)
    .where(_LEDGER.c.id.in_(bindparam("ids", expanding=True)))
    .values(evented_at=bindparam("now", type_=_LEDGER.c.evented_at.type))
)


_EVENTS_LOCK = threading.Lock()


@contextmanager
def _events_lock(lake: Lake) -> Iterator[None]:
    """Serialize merges into the events partitions: threads by a lock, local processes by flock."""
    with _EVENTS_LOCK:
        root = lake.root
        if "://" in root and not root.startswith("file://"):
            yield
            return
        folder = Path(root.removeprefix("file://"))
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".events.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def write_events(lake: Lake, events: pl.DataFrame) -> int:
    """Merge events into the lake's day partitions (a re-written event id is dropped as a duplicate)."""
    if events.is_empty():
        return 0
    with _events_lock(lake):
        written = lake.write("events", events, mode="merge")
    return sum(written.values())


def first_contact_ids(session: Session, limit: int) -> list[int]:
    """The ``limit`` oldest contact ids (the demo's audience)."""
    return list(session.scalars(select(Contact.id).order_by(Contact.id).limit(limit)))
