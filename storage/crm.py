"""The CRM's queries (phase 0+1): contacts, lifecycle history, consents, suppressions, companies, segments.

Every statement the CRM tasks run against the store is a named function here; the tasks hold the
rules (which transitions are allowed, who may get marketing), this module only reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, Table, delete, func, insert, literal, null, or_, select, update
from sqlalchemy.orm import Session

from aicmo.models.base import utcnow
from aicmo.models.crm import Company, Consent, Contact, LifecycleChange, Segment, Suppression
from aicmo.storage.upsert import bulk_upsert

CONTACT_KEY = ("email",)
_CHUNK = 5_000


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


# ---- contacts --------------------------------------------------------------------------------


def upsert_contacts(
    session: Session,
    rows: Sequence[dict[str, Any]],
    update_columns: Sequence[str] | None = None,
    *,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Insert or update contacts by normalized email; returns rows sent.

    ``created_at``/``updated_at`` are filled in; on conflict only ``update_columns`` (default:
    every column given except the email) change, and ``updated_at`` moves.
    """
    now = utcnow()
    prepared = [{**row, "created_at": row.get("created_at", now), "updated_at": now} for row in rows]
    if update_columns is None and prepared:
        update_columns = [c for c in prepared[0] if c not in ("email", "created_at")]
    elif update_columns is not None:
        update_columns = [*update_columns, "updated_at"]
    return bulk_upsert(
        session,
        Contact.__table__,
        prepared,
        CONTACT_KEY,
        update_columns,
        on_chunk=on_chunk,
    )


def contact_ids_by_email(session: Session, emails: Iterable[str]) -> dict[str, int]:
    """Map normalized emails to contact ids (missing emails are left out)."""
    found: dict[str, int] = {}
    for chunk in _chunks(list(emails), 10_000):
        found.update(
            (e, i)
            for e, i in session.execute(select(Contact.email, Contact.id).where(Contact.email.in_(chunk)))
        )
    return found


def all_contact_ids_by_email(session: Session) -> dict[str, int]:
    """Every contact's id by normalized email."""
    return {e: i for e, i in session.execute(select(Contact.email, Contact.id))}


def contact_emails(engine: Engine) -> list[str]:
    """Every contact's email, in id order."""
    with engine.connect() as conn:
        return list(conn.scalars(select(Contact.email).order_by(Contact.id)))


def contact_id_for_email(engine: Engine, email: str) -> int | None:
    """The id of the contact with this (normalized) email, None if there is none."""
    with engine.connect() as conn:
        return conn.scalar(select(Contact.id).where(Contact.email == email))


def contact_by_id(session: Session, contact_id: int) -> Contact | None:
    """The contact with this id (attached to ``session``), None if there is none."""
    return session.get(Contact, contact_id)


def contact_fields_by_email(
    engine: Engine, emails: Sequence[str], fields: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``{email: {field: value}}`` of the stored contacts among ``emails`` (``email`` is always a field)."""
    cols = [getattr(Contact, f) for f in dict.fromkeys(["email", *fields])]
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for chunk in _chunks(emails):
            result = conn.execute(select(*cols).where(Contact.email.in_(chunk)))
            keys = list(result.keys())
            # Rows zipped with the column names once per chunk: building a mapping per row is slow.
            for values in result:
                row = dict(zip(keys, values, strict=True))
                found[row["email"]] = row
    return found


def contact_rows(
    engine: Engine, fields: Sequence[str], *, where: ColumnElement[bool] | None = None, batch: int = 50_000
) -> Iterator[Sequence[Any]]:
    """``fields`` of every contact (matching ``where``) in id order, streamed ``batch`` rows at a time."""
    query = select(*(getattr(Contact, f) for f in fields)).order_by(Contact.id)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=batch).execute(query)
        for part in result.partitions():
            yield from part


def count_contacts(engine: Engine, where: ColumnElement[bool] | None = None) -> int:
    """How many contacts match ``where`` (all of them when None)."""
    query = select(func.count()).select_from(Contact)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)


def first_contact_rows(
    engine: Engine, fields: Sequence[str], where: ColumnElement[bool], limit: int
) -> list[tuple[Any, ...]]:
    """``fields`` of the first ``limit`` contacts (lowest ids) matching ``where``."""
    query = select(*(getattr(Contact, f) for f in fields)).where(where).order_by(Contact.id).limit(limit)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def contact_ids_where(engine: Engine, where: ColumnElement[bool]) -> list[int]:
    """Ids of the contacts matching ``where``, ascending."""
    with engine.connect() as conn:
        return list(conn.scalars(select(Contact.id).where(where).order_by(Contact.id)))


def contacts_due_for_enrichment(
    engine: Engine, cutoff: datetime, *, awaiting_company: bool = False
) -> list[int]:
    """Ids of contacts never enriched or enriched before ``cutoff``, ascending.

    With ``awaiting_company``, also those whose company is only a guess made while no company API
    was configured (``enrichment.company.awaiting_provider``).
    """
    due = [Contact.enriched_at.is_(None), Contact.enriched_at < cutoff]
    if awaiting_company:
        due.append(Contact.enrichment[("company", "awaiting_provider")].as_boolean().is_(True))
    query = select(Contact.id).where(or_(*due)).order_by(Contact.id)
    with engine.connect() as conn:
        return list(conn.scalars(query))


def enrichment_inputs(
    engine: Engine, contact_ids: Sequence[int]
) -> list[tuple[int, str, str | None, dict[str, Any]]]:
    """``(id, email, city, enrichment)`` of each contact of the batch (what enrichment asks about)."""
    rows: list[tuple[int, str, str | None, dict[str, Any]]] = []
    with engine.connect() as conn:
        for chunk in _chunks(contact_ids):
            query = select(Contact.id, Contact.email, Contact.city, Contact.enrichment).where(
                Contact.id.in_(chunk)
            )
            rows.extend((cid, email, city, dict(enr or {})) for cid, email, city, enr in conn.execute(query))
    return rows


def update_contacts_by_id(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Update contacts from rows carrying ``id`` and the columns to set (rows may differ in columns)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for group in groups.values():
        session.execute(update(Contact), group)


def contact_addresses(session: Session, contact_ids: Sequence[int]) -> Iterator[tuple[int, str, str | None]]:
    """``(id, email, phone)`` of each contact of the batch."""
    for chunk in _chunks(contact_ids):
        rows = session.execute(select(Contact.id, Contact.email, Contact.phone).where(Contact.id.in_(chunk)))
        yield from ((cid, email, phone) for cid, email, phone in rows)


# ---- companies -------------------------------------------------------------------------------


def upsert_companies(
    session: Session, rows: Sequence[dict[str, Any]], update_columns: Sequence[str] | None = None
) -> dict[str, int]:
    """Insert or update companies by domain; returns ``{domain: id}`` of the rows given."""
    if not rows:
        return {}
    bulk_upsert(session, Company.__table__, rows, ("domain",), update_columns)
    domains = [r["domain"] for r in rows]
    found: dict[str, int] = {}
    for chunk in _chunks(domains):
        pairs = session.execute(select(Company.domain, Company.id).where(Company.domain.in_(chunk)))
        found.update((domain, cid) for domain, cid in pairs)
    return found


# ---- lifecycle -------------------------------------------------------------------------------


def contact_stages(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    """``{contact_id: lifecycle stage}`` of the contacts of the batch that exist."""
    query = select(Contact.id, Contact.lifecycle_stage).where(Contact.id.in_(list(contact_ids)))
    return {cid: stage for cid, stage in session.execute(query)}


def set_lifecycle_stage(session: Session, contact_ids: Sequence[int], stage: str, at: datetime) -> None:
    """Move the contacts' summary stage to ``stage`` as of ``at`` (the history is written separately)."""
    session.execute(
        update(Contact)
        .where(Contact.id.in_(list(contact_ids)))
        .values(lifecycle_stage=stage, lifecycle_changed_at=at)
    )


def add_lifecycle_changes(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append lifecycle history rows (contact_id, from_stage, to_stage, reason, changed_at)."""
    if rows:
        # Core insert (executemany): the ORM bulk path costs more per row.
        session.execute(insert(cast(Table, LifecycleChange.__table__)), list(rows))


def copy_initial_stages(session: Session, emails: Sequence[str], reason: str, at: datetime) -> None:
    """One ``None -> stage`` history row per contact of ``emails``, copied inside the database.

    ``INSERT ... SELECT`` over the just-written contacts (in id order) instead of reading their
    ids back and sending one parameter set per contact.
    """
    changes = cast(Table, LifecycleChange.__table__)
    columns = ["contact_id", "from_stage", "to_stage", "reason", "changed_at"]
    for chunk in _chunks(emails):
        source = (
            select(
                Contact.id,
                null(),
                Contact.lifecycle_stage,
                literal(reason, changes.c.reason.type),
                literal(at, changes.c.changed_at.type),
            )
            .where(Contact.email.in_(chunk))
            .order_by(Contact.id)
        )
        session.execute(insert(changes).from_select(columns, source))


def lifecycle_changes_of(session: Session, contact_id: int) -> list[LifecycleChange]:
    """A contact's lifecycle history rows, oldest first."""
    return list(
        session.scalars(
            select(LifecycleChange)
            .where(LifecycleChange.contact_id == contact_id)
            .order_by(LifecycleChange.changed_at, LifecycleChange.id)
        )
    )


# ---- consents --------------------------------------------------------------------------------

_CONSENT_SUMMARY = {"email": Contact.email_consent, "sms": Contact.sms_consent, "push": Contact.push_consent}


def set_consent_summary(session: Session, contact_ids: Sequence[int], channel: str, status: str) -> None:
    """Mirror a consent status into ``contacts.<channel>_consent`` for the contacts of the batch."""
    if contact_ids:
        session.execute(
            update(Contact)
            .where(Contact.id.in_(list(contact_ids)))
            .values({_CONSENT_SUMMARY[channel].key: status})
        )


def consents_on_channel(session: Session, contact_ids: Sequence[int], channel: str) -> dict[int, Consent]:
    """The existing consents on ``channel`` of the contacts of the batch, by contact id."""
    query = select(Consent).where(Consent.contact_id.in_(list(contact_ids)), Consent.channel == channel)
    return {c.contact_id: c for c in session.scalars(query)}


def consent_of(session: Session, contact_id: int, channel: str) -> Consent | None:
    """A contact's consent on ``channel``, None if never asked."""
    query = select(Consent).where(Consent.contact_id == contact_id, Consent.channel == channel)
    return session.scalars(query).one_or_none()


def new_consent(session: Session, contact_id: int, channel: str) -> Consent:
    """A consent row for ``contact_id`` on ``channel``, added to the session (the caller fills it in)."""
    consent = Consent(contact_id=contact_id, channel=channel)
    session.add(consent)
    return consent


def upsert_consents(
    session: Session, rows: Sequence[dict[str, Any]], update_columns: Sequence[str] | None = None
) -> None:
    """Write consents keyed by (contact_id, channel), every row with the same keys.

    A consent that exists already gets ``update_columns`` (default: every column given) and a new
    ``updated_at``.
    """
    now = utcnow()
    prepared = [{**row, "updated_at": now} for row in rows]
    if update_columns is not None:
        update_columns = [*update_columns, "updated_at"]
    bulk_upsert(session, Consent.__table__, prepared, ("contact_id", "channel"), update_columns)


def consent_by_token(session: Session, token: str) -> Consent | None:
    """The consent a confirmation ``token`` was issued for."""
    return session.scalars(select(Consent).where(Consent.confirmation_token == token)).one_or_none()


def consents_of(session: Session, contact_id: int) -> list[Consent]:
    """Every consent of a contact."""
    return list(session.scalars(select(Consent).where(Consent.contact_id == contact_id)))


def contact_ids_with_consent(
    session: Session, contact_ids: Sequence[int], channel: str, status: str
) -> list[int]:
    """The contacts of the batch whose consent on ``channel`` has ``status``."""
    found: list[int] = []
    for chunk in _chunks(contact_ids):
        found.extend(
            session.scalars(
                select(Consent.contact_id).where(
                    Consent.contact_id.in_(chunk), Consent.channel == channel, Consent.status == status
                )
            )
        )
    return found


# ---- suppressions ----------------------------------------------------------------------------


def suppression_reason(session: Session, digest: str, channel: str) -> str | None:
    """The reason ``digest`` is suppressed on exactly ``channel``, None if it is not."""
    query = select(Suppression.reason).where(
        Suppression.address_hmac == digest, Suppression.channel == channel
    )
    return session.scalar(query)


def add_suppression(
    session: Session, digest: str, channel: str, reason: str, source: str | None, *, replace: bool = False
) -> None:
    """Add ``digest`` on ``channel`` to the suppression list (``replace``: overwrite reason and source)."""
    row: dict[str, Any] = {
        "address_hmac": digest,
        "channel": channel,
        "reason": reason,
        "source": source,
        "created_at": utcnow(),
    }
    update_columns = ["reason", "source"] if replace else []
    bulk_upsert(session, Suppression.__table__, [row], ("address_hmac", "channel"), update_columns)


def add_suppressions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add many ``{address_hmac, channel, reason, source}`` rows; existing suppressions keep their reason."""
    now = utcnow()
    prepared = [{**row, "created_at": now} for row in rows]
    bulk_upsert(session, Suppression.__table__, prepared, ("address_hmac", "channel"), [])


def flag_contact_suppressed(session: Session, email: str, reason: str) -> None:
    """Set the ``suppressed`` summary flag (and reason) of the contact with ``email``, if not set yet."""
    session.execute(
        update(Contact)
        .where(Contact.email == email, Contact.suppressed.is_(False))
        .values(suppressed=True, suppression_reason=reason)
    )


def suppressions_of(
    session: Session, digests: Sequence[str], channels: Sequence[str]
) -> Iterator[tuple[str, str, str]]:
    """``(digest, channel, reason)`` of every suppression of ``digests`` on any of ``channels``."""
    for chunk in _chunks(digests):
        rows = session.execute(
            select(Suppression.address_hmac, Suppression.channel, Suppression.reason).where(
                Suppression.address_hmac.in_(chunk), Suppression.channel.in_(list(channels))
            )
        )
        yield from ((digest, channel, reason) for digest, channel, reason in rows)


def lift_suppressions(session: Session, digest: str, channel: str, reasons: Sequence[str]) -> None:
    """Remove the suppressions of ``digest`` on ``channel`` that were made for one of ``reasons``."""
    session.execute(
        delete(Suppression).where(
            Suppression.address_hmac == digest,
            Suppression.channel == channel,
            Suppression.reason.in_(list(reasons)),
        )
    )


# ---- segments --------------------------------------------------------------------------------


def upsert_segment(session: Session, name: str, definition: Any, description: str | None) -> None:
    """Store a segment definition under ``name`` (replacing an older one)."""
    now = utcnow()
    row = {
        "name": name,
        "definition": definition,
        "description": description,
        "created_at": now,
        "updated_at": now,
    }
    bulk_upsert(session, Segment.__table__, [row], ("name",), ["definition", "description", "updated_at"])


def segment_definition(session: Session, name: str) -> Any | None:
    """The stored definition of segment ``name``, None if there is none."""
    return session.scalar(select(Segment.definition).where(Segment.name == name))


def segments(session: Session) -> list[Segment]:
    """Every saved segment, by name."""
    return list(session.scalars(select(Segment).order_by(Segment.name)))
