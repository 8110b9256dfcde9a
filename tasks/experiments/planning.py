"""Planning an experiment into the send ledger: holdout rows skipped, the test sample, later the rest.

At start the audience is split by :func:`assign`: held-out contacts get ledger rows settled as
``skipped`` with reason ``holdout`` (so the split is visible in ``aicmo campaigns status`` and in
the lake's events), the test sample gets pending rows carrying its variant (held back by the
variant's send delay), and the rest gets nothing yet. When the test is decided, every audience
member without a row gets the winner; rows already planned are never changed, so the rest is
sent through the same exactly-once ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from aicmo.settings import get_settings
from aicmo.storage.experiments import create_experiment
from aicmo.storage.publishing import plan, recipients
from aicmo.tasks.experiments.assign import Assignment, assign, unit_hash
from aicmo.tasks.experiments.spec import ExperimentSpec
from aicmo.tasks.experiments.stats import Plan, sample_size


def assignment_key() -> bytes:
    """The installation's HMAC key (``AICMO_HMAC_KEY`` or home/hmac.key): assignments depend on it."""
    return get_settings().resolved_hmac_key().encode()


def plan_of(spec: ExperimentSpec) -> Plan | None:
    """The sample the spec's test needs (None for a holdout-only experiment)."""
    if len(spec.variants) < 2:
        return None
    return sample_size(
        baseline=spec.baseline,
        mde=spec.mde,
        alpha=spec.alpha,
        power=spec.power,
        variants=len(spec.variants),
        metric_sd=spec.metric_sd if spec.metric == "revenue" else None,
    )


def strata_of(session: Session, spec: ExperimentSpec, contact_ids: Sequence[int]) -> dict[int, str]:
    """Each contact's stratum (tier, country, or one stratum for all)."""
    if spec.stratify_by == "none":
        return {cid: "" for cid in contact_ids}
    found = recipients(session, contact_ids)
    return {
        cid: str(getattr(found[cid], spec.stratify_by, None) or "") if cid in found else ""
        for cid in contact_ids
    }


def split(
    session: Session, spec: ExperimentSpec, campaign_id: int, contact_ids: Sequence[int], key: bytes
) -> Assignment:
    """The audience's split into holdout, test (with variants) and rest."""
    test_plan = plan_of(spec)
    return assign(
        key,
        campaign_id,
        strata_of(session, spec, contact_ids),
        variants=len(spec.variants),
        holdout=spec.holdout,
        sample=test_plan.total if test_plan is not None else None,
    )


def _delays(spec: ExperimentSpec, now: datetime) -> list[datetime | None]:
    return [now + timedelta(hours=v.send_delay_h) if v.send_delay_h > 0 else None for v in spec.variants]


def plan_experiment(
    session: Session,
    campaign_id: int,
    spec: ExperimentSpec,
    channel: str,
    contact_ids: Sequence[int],
    channels: Sequence[str],
    *,
    key: bytes,
    now: datetime,
) -> Assignment:
    """Record the experiment and plan the holdout and the test sample (or, holdout only, everyone)."""
    parts = split(session, spec, campaign_id, contact_ids, key)
    test_plan = plan_of(spec)
    create_experiment(
        session,
        {
            "campaign_id": campaign_id,
            "channel": channel,
            "metric": spec.metric,
            "variants": [v.name for v in spec.variants],
            "per_variant": test_plan.per_variant if test_plan else 0,
            "alpha": spec.alpha,
            "mde": spec.mde,
            "holdout": spec.holdout,
            "started_at": now,
            "deadline_at": now + timedelta(hours=spec.deadline_h),
            "status": "testing" if test_plan else "decided",
            "decision": None if test_plan else "holdout only: no variants to test",
            "decided_at": None if test_plan else now,
            "min_p": [1.0] * max(0, len(spec.variants) - 1),
            "looks": 0,
            "summary": {},
        },
    )
    if parts.holdout:
        plan(session, campaign_id, parts.holdout, channels, skip_reason="holdout")
    if test_plan is None:
        plan(session, campaign_id, parts.rest, channels)
        return parts
    delays = _delays(spec, now)
    test = parts.test
    plan(
        session,
        campaign_id,
        sorted(test),
        channels,
        variant_of=test.get,
        not_before=lambda cid: delays[test[cid]],
    )
    return parts


def plan_rest(
    session: Session,
    campaign_id: int,
    spec: ExperimentSpec,
    contact_ids: Sequence[int],
    channels: Sequence[str],
    planned: set[int],
    *,
    winner: int,
    key: bytes,
    now: datetime,
) -> int:
    """Plan the winner for every audience member without a row (newcomers may still be held out)."""
    newcomers = [cid for cid in contact_ids if cid not in planned]
    held = [
        cid
        for cid in newcomers
        if spec.holdout > 0 and unit_hash(key, campaign_id, cid, "holdout") < spec.holdout
    ]
    if held:
        plan(session, campaign_id, held, channels, skip_reason="holdout")
    rest = [cid for cid in newcomers if cid not in set(held)]
    due = _delays(spec, now)[winner]
    return plan(
        session, campaign_id, rest, channels, variant_of=lambda _cid: winner, not_before=lambda _cid: due
    )
