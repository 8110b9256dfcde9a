"""Experiments in the store: the experiment row, and the ledger read by variant.

The ledger (``outbox``) is the record of who was in which variant and who was held out; the
experiment row keeps the plan, the running always-valid p-values and the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.experiments import Experiment
from aicmo.models.publishing import SENT, SKIPPED, Campaign, OutboxMessage

_CHUNK = 5_000


def create_experiment(session: Session, values: dict[str, Any]) -> Experiment:
    """The campaign's experiment row, created with ``values`` unless it exists (planning is re-run)."""
    existing = session.scalar(select(Experiment).where(Experiment.campaign_id == values["campaign_id"]))
    if existing is not None:
        return existing
    experiment = Experiment(**values)
    session.add(experiment)
    session.flush()
    return experiment


def experiment_of(session: Session, campaign_id: int) -> Experiment | None:
    """The campaign's experiment, if it has one that has started."""
    return session.scalar(select(Experiment).where(Experiment.campaign_id == campaign_id))


def experiment_by_name(session: Session, name: str) -> tuple[Campaign, Experiment]:
    """The campaign named ``name`` and its experiment; InputError if either is missing."""
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        raise InputError(f"no campaign named {name!r}")
    experiment = experiment_of(session, campaign.id)
    if experiment is None:
        raise InputError(f"campaign {name!r} has no experiment that has started (is it sent or sending?)")
    return campaign, experiment


def undecided_campaign_ids(session: Session) -> list[int]:
    """Campaigns whose experiment still awaits its decision."""
    return list(
        session.scalars(
            select(Experiment.campaign_id)
            .join(Campaign, Campaign.id == Experiment.campaign_id)
            .where(Experiment.status == "testing", Campaign.status.in_(("sending", "testing")))
            .order_by(Experiment.campaign_id)
        )
    )


def record_look(session: Session, experiment_id: int, min_p: list[float], summary: dict[str, Any]) -> None:
    """Store one look's running p-values and summary."""
    session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id)
        .values(min_p=min_p, summary=summary, looks=Experiment.looks + 1)
    )


def record_decision(session: Session, experiment_id: int, winner: int | None, decision: str) -> None:
    """The test is over: ``winner`` (a variant index) goes to the rest; ``decision`` says why."""
    session.execute(
        update(Experiment)
        .where(Experiment.id == experiment_id)
        .values(status="decided", winner=winner, decision=decision, decided_at=utcnow())
    )


@dataclass(frozen=True)
class SentRow:
    """A message of the experiment's channel that was sent: to whom, which variant, when."""

    contact_id: int
    variant_id: int | None
    sent_at: datetime


def sent_rows(session: Session, campaign_id: int, channel: str) -> list[SentRow]:
    """Every sent message of the campaign on ``channel``."""
    return [
        SentRow(int(cid), vid, at)
        for cid, vid, at in session.execute(
            select(OutboxMessage.contact_id, OutboxMessage.variant_id, OutboxMessage.sent_at).where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.channel == channel,
                OutboxMessage.state == SENT,
                OutboxMessage.contact_id.is_not(None),
            )
        )
        if cid is not None and at is not None
    ]


def holdout_contact_ids(session: Session, campaign_id: int) -> list[int]:
    """The contacts the campaign kept out (ledger rows skipped with reason ``holdout``)."""
    return sorted(
        {
            int(cid)
            for cid in session.scalars(
                select(OutboxMessage.contact_id).where(
                    OutboxMessage.campaign_id == campaign_id,
                    OutboxMessage.state == SKIPPED,
                    OutboxMessage.reason == "holdout",
                )
            )
            if cid is not None
        }
    )


def ledger_variants(session: Session, campaign_id: int, channel: str) -> dict[int, int | None]:
    """``{contact_id: variant_id}`` of the campaign's rows on ``channel`` (holdout rows included, as None)."""
    return {
        int(cid): vid
        for cid, vid in session.execute(
            select(OutboxMessage.contact_id, OutboxMessage.variant_id).where(
                OutboxMessage.campaign_id == campaign_id,
                OutboxMessage.channel == channel,
                OutboxMessage.contact_id.is_not(None),
            )
        )
        if cid is not None
    }


def variant_states(session: Session, campaign_id: int) -> dict[tuple[int | None, str], int]:
    """``{(variant_id, state): rows}`` of the campaign's ledger."""
    return {
        (vid, state): int(n)
        for vid, state, n in session.execute(
            select(OutboxMessage.variant_id, OutboxMessage.state, func.count())
            .where(OutboxMessage.campaign_id == campaign_id)
            .group_by(OutboxMessage.variant_id, OutboxMessage.state)
        )
    }


def variants_of(session: Session, pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """``{(campaign_id, contact_id): variant_id}`` of the ledger rows of these pairs that carry a variant."""
    wanted = set(pairs)
    out: dict[tuple[int, int], int] = {}
    campaigns = sorted({c for c, _ in wanted})
    contacts = sorted({k for _, k in wanted})
    for start in range(0, len(contacts), _CHUNK):
        for campaign_id, contact_id, variant_id in session.execute(
            select(OutboxMessage.campaign_id, OutboxMessage.contact_id, OutboxMessage.variant_id).where(
                OutboxMessage.campaign_id.in_(campaigns),
                OutboxMessage.contact_id.in_(contacts[start : start + _CHUNK]),
                OutboxMessage.variant_id.is_not(None),
            )
        ):
            if contact_id is None or variant_id is None:
                continue
            key = (int(campaign_id), int(contact_id))
            if key in wanted:
                out[key] = int(variant_id)
    return out
