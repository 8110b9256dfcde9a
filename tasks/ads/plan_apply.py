"""Put the daily allocation plan on the ad platforms, or (dry run) log what would change.

The plan is in the reporting currency and names ad sets by campaign and name; a platform takes
budgets in its account's currency and changes ad sets by id. Each planned ad set goes to the
platform and account its spend was last reported from, its budget converted at that account's
latest rate (``spend_local / spend`` on its last day with spend). Platforms without an API adapter
and platforms without credentials are left out with the reason, so a team that only imports
reports still gets the plan; a refused change is logged and reported, the others still go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Engine

from aicmo.errors import ConfigError, InputError
from aicmo.settings import AdsSettings
from aicmo.tasks.ads.changes import apply_changes, budget_changes
from aicmo.tasks.ads.connect import PLATFORMS, connect
from aicmo.tasks.ads.platforms import PlatformError


@dataclass(frozen=True)
class Target:
    """Where a campaign's planned ad sets live, and the rate from the reporting to its currency."""

    platform: str
    account: str
    campaign: str
    rate: float


def plan_targets(
    ad_spend: pl.LazyFrame, plan: Sequence[dict[str, Any]]
) -> dict[Target, list[tuple[str, float]]]:
    """The plan's ``(ad set, budget in the account's currency)`` grouped by platform, account and campaign."""
    if not plan:
        return {}
    campaigns = sorted({str(row["campaign"]) for row in plan})
    spent = ad_spend.filter(pl.col("campaign").is_in(campaigns) & (pl.col("spend") > 0))
    homes = (
        spent.group_by("campaign", "ad_set", "platform", "account")
        .agg(pl.col("date").max().alias("last_day"))
        .sort("last_day", "platform", "account", descending=[True, False, False])
        .unique(["campaign", "ad_set"], keep="first")
    )
    rates = (
        spent.group_by("platform", "account", "date")
        .agg((pl.col("spend_local").sum() / pl.col("spend").sum()).alias("rate"))
        .sort("date", descending=True)
        .unique(["platform", "account"], keep="first")
        .select("platform", "account", "rate")
    )
    where = homes.join(rates, on=["platform", "account"], how="left").collect()
    found = {(r["campaign"], r["ad_set"]): r for r in where.iter_rows(named=True)}
    targets: dict[Target, list[tuple[str, float]]] = {}
    for row in plan:
        home = found.get((str(row["campaign"]), str(row["ad_set"])))
        if home is None:
            continue  # no spend reported for it: nothing says where it lives
        rate = float(home["rate"] or 1.0)
        target = Target(str(home["platform"]), str(home["account"]), str(row["campaign"]), rate)
        targets.setdefault(target, []).append((str(row["ad_set"]), round(float(row["budget"]) * rate, 2)))
    return targets


CHANGE_STATUSES = ("applied", "dry_run", "failed", "left_out")
"""What :func:`apply_plan` says of each change or target."""


def _row(
    target: Target, status: str, detail: str, ad_set: str | None = None, budget: float | None = None
) -> dict[str, Any]:
    return {
        "platform": target.platform,
        "account": target.account,
        "campaign": target.campaign,
        "ad_set": ad_set,
        "budget": budget,
        "status": status,
        "detail": detail,
    }


def apply_plan(
    ad_spend: pl.LazyFrame,
    plan: Sequence[dict[str, Any]],
    settings: AdsSettings,
    engine: Engine,
    *,
    dry_run: bool,
) -> list[dict[str, Any]]:
    """Make (or only log) the budget changes of ``plan``; one row per change or per target left out.

    Each row has ``platform``, ``account``, ``campaign``, ``ad_set``, ``budget`` (account currency,
    None when nothing was planned for the platform), ``status`` (applied, dry_run, failed, left_out)
    and ``detail`` (the platform's error, or why a target was left out).
    """
    rows: list[dict[str, Any]] = []
    for target, budgets in plan_targets(ad_spend, plan).items():
        if target.platform not in PLATFORMS:
            reason = f"no API adapter for platform {target.platform!r} (adapters: {', '.join(PLATFORMS)})"
            rows.append(_row(target, "left_out", reason))
            continue
        try:
            adapter = connect(target.platform, target.account, settings)
            changes = budget_changes(adapter.list_ad_sets(), budgets, target.campaign)
        except ConfigError as exc:  # no credentials for this platform: the plan stays a plan
            rows.append(_row(target, "left_out", str(exc)))
            continue
        except (PlatformError, InputError) as exc:  # refused, or a planned ad set it does not have
            rows.append(_row(target, "failed", str(exc)))
            continue
        for outcome in apply_changes(adapter, changes, engine, dry_run=dry_run):
            change = outcome.change
            detail = outcome.error or change.describe()
            rows.append(_row(target, outcome.status, detail, change.ad_set.name, change.value))
    return rows
