"""The decision: look at the test, keep the always-valid p-values, pick a winner, send it to the rest.

Each look compares every challenger with the control by the mSPRT (``stats.compare``); the k-1
comparisons share alpha (Bonferroni). A challenger whose always-valid p-value falls to alpha/(k-1)
with a higher metric wins (the best such one, if several); if every challenger is significantly
worse, the control wins. Otherwise the test goes on until its deadline, when the configured
default (the control unless set) is sent and the decision says that no difference was found.
Looking more often never makes a false winner likelier: that is what the p-values are built for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.experiments import Experiment
from aicmo.storage.db import transaction
from aicmo.storage.experiments import (
    experiment_of,
    ledger_variants,
    record_decision,
    record_look,
    sent_rows,
)
from aicmo.storage.lake import Lake
from aicmo.storage.publishing import campaign_by_id, set_status
from aicmo.tasks.experiments.measure import arms, outcomes, per_contact, sends_frame
from aicmo.tasks.experiments.planning import assignment_key, plan_rest
from aicmo.tasks.experiments.stats import Arm, Comparison, compare
from aicmo.tasks.publishing.campaigns import audience_ids
from aicmo.tasks.publishing.definition import PER_CAMPAIGN_CHANNELS, definition_of


@dataclass(frozen=True)
class Look:
    """One look at a test: each challenger against the control, the running p-values, any decision."""

    comparisons: list[Comparison]
    min_p: list[float]
    winner: int | None
    reason: str | None


def look(
    observed: Sequence[Arm],
    min_p: Sequence[float],
    *,
    names: Sequence[str],
    tau: float,
    alpha: float,
    default: int,
    past_deadline: bool,
) -> Look:
    """Decide from one look (pure: the simulation runs the same rule)."""
    k = len(observed)
    per = alpha / max(1, k - 1)
    comparisons = [compare(observed[0], observed[i], tau=tau, alpha=per) for i in range(1, k)]
    running = [min(old, c.p_value) for old, c in zip(min_p, comparisons, strict=True)]
    significant = [i + 1 for i, p in enumerate(running) if p <= per]
    better = [v for v in significant if comparisons[v - 1].difference > 0]
    if better:
        winner = max(better, key=lambda v: observed[v].mean)
        return Look(
            comparisons,
            running,
            winner,
            f"{names[winner]} beats {names[0]} (always-valid p = {running[winner - 1]:.4g} <= {per:.4g})",
        )
    if k > 1 and len(significant) == k - 1:
        return Look(comparisons, running, 0, f"{names[0]} (control) beats every challenger")
    if past_deadline:
        return Look(
            comparisons,
            running,
            default,
            f"no significant difference by the deadline: sending the default, {names[default]}",
        )
    return Look(comparisons, running, None, None)


@dataclass
class Progress:
    """What one look at a campaign's experiment found and did."""

    campaign: str
    arms: list[Arm] = field(default_factory=list)
    look: Look | None = None
    decided: bool = False
    rest_planned: int = 0
    already: str | None = None  # the decision made earlier, when there was one


def _summary(names: Sequence[str], observed: Sequence[Arm], result: Look, at: datetime) -> dict[str, object]:
    return {
        "at": at.isoformat(),
        "arms": [{"variant": n, **asdict(a)} for n, a in zip(names, observed, strict=True)],
        "comparisons": [asdict(c) for c in result.comparisons],
    }


def advance(engine: Engine, lake: Lake, campaign_id: int, *, now: datetime | None = None) -> Progress:
    """Look at the campaign's test now; on a decision, plan the winner for the rest and resume sending."""
    now = now or utcnow()
    with transaction(engine) as session:
        campaign = campaign_by_id(session, campaign_id)
        experiment = experiment_of(session, campaign_id)
        if experiment is None:
            raise InputError(f"campaign {campaign.name!r} has no experiment")
        definition = definition_of(campaign)
        progress = Progress(campaign.name)
        if experiment.status != "testing":
            progress.already = experiment.decision
            return progress
        snapshot = _Snapshot.of(experiment)
        sends = sends_frame(sent_rows(session, campaign_id, experiment.channel))
    spec = definition.experiment
    assert spec is not None
    found = outcomes(lake, campaign_id, snapshot.metric, sends["contact_id"].to_list(), now)
    observed = arms(per_contact(sends, found, snapshot.metric, now), len(snapshot.names))
    result = look(
        observed,
        snapshot.min_p,
        names=snapshot.names,
        tau=snapshot.mde,
        alpha=snapshot.alpha,
        default=spec.default_index,
        past_deadline=now >= snapshot.deadline_at,
    )
    progress.arms, progress.look = observed, result
    audience = audience_ids(engine, definition) if result.winner is not None else []
    per_contact_channels = [c for c in definition.channels if c not in PER_CAMPAIGN_CHANNELS]
    with transaction(engine) as session:
        current = experiment_of(session, campaign_id)
        if current is None or current.status != "testing":  # another run decided meanwhile
            progress.already = current.decision if current is not None else None
            return progress
        record_look(session, current.id, result.min_p, _summary(snapshot.names, observed, result, now))
        if result.winner is None or result.reason is None:
            return progress
        record_decision(session, current.id, result.winner, result.reason)
        planned = set(ledger_variants(session, campaign_id, current.channel))
        progress.rest_planned = plan_rest(
            session,
            campaign_id,
            spec,
            audience,
            per_contact_channels,
            planned,
            winner=result.winner,
            key=assignment_key(),
            now=now,
        )
        if campaign_by_id(session, campaign_id).status == "testing":
            set_status(session, campaign_id, "sending")
        progress.decided = True
    return progress


@dataclass(frozen=True)
class _Snapshot:
    names: list[str]
    metric: str
    mde: float
    alpha: float
    min_p: list[float]
    deadline_at: datetime

    @classmethod
    def of(cls, e: Experiment) -> _Snapshot:
        return cls(list(e.variants), e.metric, e.mde, e.alpha, list(e.min_p), e.deadline_at)
