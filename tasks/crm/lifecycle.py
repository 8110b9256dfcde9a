"""Lifecycle stages of a contact and the state machine that guards their transitions.

Stages move forward along the funnel subscriber -> lead -> mql -> sql -> opportunity -> customer
-> evangelist; a stage may skip ahead (a subscriber can buy), and sales may send an mql/sql/
opportunity back to lead. Any stage can churn; a churned contact can come back as a lead or
customer. Every change is recorded in ``lifecycle_changes`` with its time and reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.crm import LIFECYCLE_STAGES
from aicmo.storage import crm as store

FUNNEL = ("subscriber", "lead", "mql", "sql", "opportunity", "customer", "evangelist")
CHURNED = "churned"
_STAGE_ALIASES = {s: s for s in LIFECYCLE_STAGES} | {
    "marketing qualified lead": "mql",
    "sales qualified lead": "sql",
    "marketing_qualified_lead": "mql",
    "sales_qualified_lead": "sql",
}


class InvalidTransitionError(InputError):
    """A lifecycle change the state machine does not allow; names both stages."""


def parse_stage(value: str) -> str:
    """The canonical stage for ``value`` (case-insensitive, a few long aliases); InputError if unknown."""
    stage = _STAGE_ALIASES.get(value.strip().lower())
    if stage is None:
        raise InputError(f"unknown lifecycle stage {value!r}; known: {', '.join(LIFECYCLE_STAGES)}")
    return stage


def _allowed() -> dict[str, frozenset[str]]:
    allowed: dict[str, set[str]] = {}
    for i, stage in enumerate(FUNNEL):
        nxt = set(FUNNEL[i + 1 :]) | {CHURNED}
        if stage in ("mql", "sql", "opportunity"):
            nxt.add("lead")  # recycled by sales
        allowed[stage] = nxt
    allowed[CHURNED] = {"lead", "customer"}
    return {k: frozenset(v) for k, v in allowed.items()}


ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = _allowed()


def check_transition(from_stage: str, to_stage: str) -> None:
    """Raise InvalidTransitionError unless ``from_stage -> to_stage`` is allowed."""
    if to_stage not in ALLOWED_TRANSITIONS.get(from_stage, frozenset()):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS.get(from_stage, frozenset()))) or "none"
        raise InvalidTransitionError(
            f"cannot move a contact from {from_stage!r} to {to_stage!r} "
            f"(allowed from {from_stage!r}: {allowed})"
        )


def can_transition(from_stage: str, to_stage: str) -> bool:
    """Whether ``from_stage -> to_stage`` is allowed."""
    return to_stage in ALLOWED_TRANSITIONS.get(from_stage, frozenset())


@dataclass(frozen=True)
class StageChange:
    """One entry of a contact's lifecycle history."""

    from_stage: str | None
    to_stage: str
    reason: str | None
    changed_at: datetime


def change_stage(
    session: Session,
    contact_ids: Sequence[int],
    to_stage: str,
    reason: str | None = None,
    *,
    at: datetime | None = None,
) -> int:
    """Move a batch of contacts to ``to_stage``, validating each transition; returns contacts changed.

    Contacts already in ``to_stage`` are left alone. If any contact's move is not allowed nothing
    changes and InvalidTransitionError names the contact id and both stages.
    """
    to_stage = parse_stage(to_stage)
    when = at or utcnow()
    current = store.contact_stages(session, contact_ids)
    missing = sorted(set(contact_ids) - set(current))
    if missing:
        raise InputError(f"no contact with id {missing[0]}")
    moving = [(cid, stage) for cid, stage in current.items() if stage != to_stage]
    for cid, stage in moving:
        try:
            check_transition(stage, to_stage)
        except InvalidTransitionError as exc:
            raise InvalidTransitionError(f"contact {cid}: {exc}") from None
    if not moving:
        return 0
    ids = [cid for cid, _ in moving]
    store.set_lifecycle_stage(session, ids, to_stage, when)
    store.add_lifecycle_changes(
        session, [_change_row(cid, stage, to_stage, reason, when) for cid, stage in moving]
    )
    return len(moving)


def _change_row(
    contact_id: int, from_stage: str | None, to_stage: str, reason: str | None, at: datetime
) -> dict[str, object]:
    return {
        "contact_id": contact_id,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "reason": reason,
        "changed_at": at,
    }


def record_initial_stages(session: Session, stages: dict[int, str], reason: str, at: datetime) -> None:
    """Record the first stage of newly created contacts (``from_stage`` is None)."""
    store.add_lifecycle_changes(
        session, [_change_row(cid, None, stage, reason, at) for cid, stage in stages.items()]
    )


def record_stage_changes(
    session: Session, changes: Sequence[tuple[int, str, str]], reason: str, at: datetime
) -> None:
    """Record already-applied ``(contact_id, from_stage, to_stage)`` changes in the history."""
    store.add_lifecycle_changes(session, [_change_row(cid, a, b, reason, at) for cid, a, b in changes])


def history(session: Session, contact_id: int) -> list[StageChange]:
    """A contact's lifecycle changes, oldest first."""
    rows = store.lifecycle_changes_of(session, contact_id)
    return [StageChange(r.from_stage, r.to_stage, r.reason, r.changed_at) for r in rows]
