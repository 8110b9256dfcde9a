"""Budget, bid and status changes to ad sets: made through a platform, or only described in a dry run,
and in both cases logged in the store's ``ad_changes`` with the inputs and the platform's answer.

A failed change (the platform refused it, or rate limits outlasted the retries) is logged as
``failed`` with the platform's error body and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine

from aicmo.storage.ads import record_change
from aicmo.storage.db import transaction
from aicmo.tasks.ads.platforms import AdPlatform, AdSetInfo, PlatformAnswer, PlatformError

Action = Literal["set_budget", "set_bid", "pause", "resume"]


@dataclass(frozen=True)
class Change:
    """One change to one ad set: a new daily budget or bid (major units), or a pause/resume."""

    action: Action
    ad_set: AdSetInfo
    value: float | None = None
    reason: str = ""

    def previous(self) -> float | str | None:
        if self.action == "set_budget":
            return self.ad_set.daily_budget
        if self.action == "set_bid":
            return self.ad_set.bid
        return self.ad_set.status

    def describe(self) -> str:
        """One line for a person: what changes, from what, to what, and why."""
        target = f"{self.ad_set.campaign} / {self.ad_set.name} ({self.ad_set.id})"
        if self.action in ("pause", "resume"):
            what = f"{self.action} {target}"
        else:
            label = "daily budget" if self.action == "set_budget" else "bid"
            before = self.previous()
            was = "unset" if before is None else f"{before:,.2f}"
            what = f"{label} of {target}: {was} -> {self.value:,.2f}"
        return f"{what}{f' ({self.reason})' if self.reason else ''}"

    def inputs(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "previous": self.previous(),
            "reason": self.reason,
            "ad_set_name": self.ad_set.name,
            "campaign": self.ad_set.campaign,
            "budget_id": self.ad_set.budget_id,
        }


@dataclass(frozen=True)
class ChangeOutcome:
    """What became of a change."""

    change: Change
    status: Literal["applied", "failed", "dry_run"]
    http_status: int | None = None
    response: dict[str, Any] | None = None
    error: str | None = None
    log_id: int | None = None


def _send(platform: AdPlatform, change: Change) -> PlatformAnswer:
    if change.action == "set_budget":
        assert change.value is not None
        return platform.set_daily_budget(change.ad_set, change.value)
    if change.action == "set_bid":
        assert change.value is not None
        return platform.set_bid(change.ad_set, change.value)
    return platform.set_status(change.ad_set, change.action == "resume")


def apply_changes(
    platform: AdPlatform, changes: Sequence[Change], engine: Engine, *, dry_run: bool
) -> list[ChangeOutcome]:
    """Make (or, with ``dry_run``, only log) each change; every one gets a row in ``ad_changes``."""
    outcomes: list[ChangeOutcome] = []
    for change in changes:
        if dry_run:
            outcome = ChangeOutcome(change, "dry_run")
        else:
            try:
                answer = _send(platform, change)
                outcome = ChangeOutcome(change, "applied", answer.http_status, answer.body)
            except PlatformError as exc:
                outcome = ChangeOutcome(change, "failed", exc.http_status, exc.body, str(exc))
        with transaction(engine) as session:
            log_id = record_change(
                session,
                platform=platform.platform,
                account=platform.account,
                object_id=change.ad_set.budget_id
                if change.action == "set_budget" and change.ad_set.budget_id
                else change.ad_set.id,
                action=change.action,
                inputs=change.inputs(),
                dry_run=dry_run,
                status=outcome.status,
                http_status=outcome.http_status,
                response=outcome.response,
                error=outcome.error,
            )
        outcomes.append(ChangeOutcome(**{**outcome.__dict__, "log_id": log_id}))
    return outcomes


def budget_changes(
    ad_sets: Sequence[AdSetInfo], plan: Sequence[tuple[str, float]], campaign: str
) -> list[Change]:
    """``set_budget`` changes that put the platform's ad sets of ``campaign`` on the planned budgets.

    ``plan`` is ``(ad set name, budget)``; ad sets are matched by name within the campaign, and
    one whose budget already matches (to the cent) is left alone. A planned name the platform
    does not have is an ``InputError`` naming it.
    """
    from aicmo.errors import InputError

    by_name = {a.name: a for a in ad_sets if a.campaign == campaign}
    unknown = [name for name, _ in plan if name not in by_name]
    if unknown:
        raise InputError(
            f"campaign {campaign!r} on the platform has no ad set named {', '.join(map(repr, unknown))} "
            f"(it has {', '.join(map(repr, sorted(by_name))) or 'none'})"
        )
    return [
        Change("set_budget", by_name[name], round(budget, 2), reason="allocation")
        for name, budget in plan
        if by_name[name].daily_budget is None or abs((by_name[name].daily_budget or 0) - budget) >= 0.005
    ]


def find_ad_sets(
    ad_sets: Sequence[AdSetInfo], wanted: Sequence[str], campaign: str | None = None
) -> list[AdSetInfo]:
    """The ad sets named by ``wanted`` (each an id, or a name within ``campaign`` if given).

    A name or id the platform does not have, or a name shared by ad sets of several campaigns, is
    an ``InputError`` naming it (and, for a shared name, the campaigns to choose from).
    """
    from aicmo.errors import InputError

    pool = [a for a in ad_sets if campaign is None or a.campaign == campaign]
    found: list[AdSetInfo] = []
    for key in wanted:
        by_id = [a for a in pool if a.id == key]
        matches = by_id or [a for a in pool if a.name == key]
        if not matches:
            where = f" in campaign {campaign!r}" if campaign else ""
            names = ", ".join(sorted({repr(a.name) for a in pool})) or "none"
            raise InputError(f"no ad set {key!r}{where} on the platform (it has {names})")
        if len(matches) > 1:
            campaigns = ", ".join(sorted({repr(a.campaign) for a in matches}))
            raise InputError(
                f"{len(matches)} ad sets are named {key!r} (campaigns {campaigns}): pass --campaign or the id"
            )
        found.append(matches[0])
    return found


def recent_change_rows(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest logged changes as flat rows, newest first."""
    from aicmo.storage.ads import recent_changes

    with transaction(engine) as session:
        return [
            {
                "at": c.at.isoformat(timespec="seconds"),
                "platform": c.platform,
                "account": c.account,
                "object": c.object_id,
                "action": c.action,
                "value": (c.inputs or {}).get("value"),
                "previous": str((c.inputs or {}).get("previous")),
                "status": c.status,
                "http": c.http_status,
                "error": c.error or "",
            }
            for c in recent_changes(session, limit)
        ]
