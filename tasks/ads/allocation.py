"""Budget allocation across ad sets by Thompson sampling, and target-CPA / target-ROAS bid suggestions.

Each ad set's conversion rate per click has a Beta posterior, its value per conversion a Gamma
posterior and its cost per click a Gamma posterior, all with priors centred on the campaign's
pooled figures (``prior_clicks`` clicks' and ``prior_conversions`` conversions' worth), so an ad
set with little data looks like the campaign until it proves otherwise. Every draw picks the ad
set with the best sampled return per unit of spend (conversions per cost, or value per cost);
the share of draws an ad set wins is its share of the budget (probability matching). An
exploration floor keeps every ad set learning, and a per-ad-set cap keeps one lucky streak from
taking the whole budget.

Bids: the maximum cost per click that meets a target CPA is ``target_cpa x conversion rate``, and
the one that meets a target ROAS is ``value per click / target_roas``; both use the shrunk
estimates, so a young ad set's bid stays near the campaign's until its own data is large.
All of it is array arithmetic over the ad sets (NumPy draws, Polars expressions), no loop per row.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from aicmo.errors import InputError

STATS_COLUMNS = ("ad_set", "spend", "clicks", "conversions", "conversion_value")
Objective = Literal["conversions", "value"]


def _check(stats: pl.DataFrame) -> None:
    missing = [c for c in STATS_COLUMNS if c not in stats.columns]
    if missing:
        raise InputError(f"ad-set statistics lack column(s): {', '.join(missing)}")
    if stats.height == 0:
        raise InputError("no ad sets to allocate over")


def constrain_shares(shares: np.ndarray, floor: float, cap: float) -> np.ndarray:
    """The closest shares (least squares) that sum to 1 with each in ``[floor, cap]``.

    That is ``clip(shares + t, floor, cap)`` with the shift ``t`` found by bisection: the order
    of the ad sets is kept, and what the capped ones give up is spread evenly over the others.
    Bounds that cannot hold together (``n x floor > 1`` or ``n x cap < 1``) are relaxed to 1/n.
    """
    n = len(shares)
    floor, cap = min(floor, 1.0 / n), max(cap, 1.0 / n)
    p = np.asarray(shares, dtype=float)
    p = p / p.sum() if p.sum() > 0 else np.full(n, 1.0 / n)
    low, high = -1.0, 1.0  # clip(p - 1) sums to n x floor <= 1, clip(p + 1) to n x cap >= 1
    for _ in range(100):
        mid = (low + high) / 2
        if np.clip(p + mid, floor, cap).sum() < 1.0:
            low = mid
        else:
            high = mid
    out = np.clip(p + high, floor, cap)
    return np.asarray(out / out.sum())


def allocate(
    stats: pl.DataFrame,
    budget: float,
    *,
    rng: np.random.Generator,
    objective: Objective = "conversions",
    floor: float = 0.05,
    cap: float = 0.6,
    draws: int = 4000,
    prior_clicks: float = 50.0,
    prior_conversions: float = 5.0,
) -> pl.DataFrame:
    """Tomorrow's budget per ad set from its totals so far (``STATS_COLUMNS``); adds ``p_best``,
    ``share`` and ``budget`` columns, in the input's order."""
    _check(stats)
    clicks = stats["clicks"].cast(pl.Float64).fill_null(0).to_numpy()
    conv = np.minimum(stats["conversions"].cast(pl.Float64).fill_null(0).to_numpy(), clicks)
    value = stats["conversion_value"].cast(pl.Float64).fill_null(0).to_numpy()
    spend = stats["spend"].cast(pl.Float64).fill_null(0).to_numpy()
    pooled_cvr = (conv.sum() + 1.0) / (clicks.sum() + 2.0)
    pooled_vpc = value.sum() / conv.sum() if conv.sum() > 0 else 1.0
    pooled_cpc = spend.sum() / clicks.sum() if clicks.sum() > 0 else 1.0
    n = len(clicks)
    # Beta posterior of the conversion rate; prior worth ``prior_clicks`` clicks at the pooled rate.
    alpha = prior_clicks * pooled_cvr + conv
    beta = prior_clicks * (1 - pooled_cvr) + (clicks - conv)
    cvr = rng.beta(alpha, beta, size=(draws, n))
    # Gamma posteriors of value per conversion and cost per click, centred on shrunk means.
    shape_v = prior_conversions + conv
    mean_v = (prior_conversions * pooled_vpc + value) / shape_v
    vpc = rng.gamma(shape_v, mean_v / shape_v, size=(draws, n)) if objective == "value" else 1.0
    shape_c = prior_clicks + clicks
    mean_c = (prior_clicks * pooled_cpc + spend) / shape_c
    cpc = rng.gamma(shape_c, mean_c / shape_c, size=(draws, n))
    score = cvr * vpc / cpc
    wins = np.bincount(score.argmax(axis=1), minlength=n) / draws
    shares = constrain_shares(wins, floor, cap)
    return stats.with_columns(
        pl.Series("p_best", wins),
        pl.Series("share", shares),
        pl.Series("budget", np.round(shares * budget, 2)),
    )


def bid_suggestions(
    stats: pl.DataFrame,
    *,
    target_cpa: float | None = None,
    target_roas: float | None = None,
    prior_clicks: float = 50.0,
    prior_conversions: float = 5.0,
) -> pl.DataFrame:
    """Observed and shrunk CPA/ROAS per ad set and the max-CPC bid that meets each target given."""
    _check(stats)
    if target_cpa is not None and target_cpa <= 0:
        raise InputError(f"target CPA must be positive, got {target_cpa}")
    if target_roas is not None and target_roas <= 0:
        raise InputError(f"target ROAS must be positive, got {target_roas}")
    f = stats.with_columns(pl.col(c).cast(pl.Float64).fill_null(0.0) for c in STATS_COLUMNS[1:])
    totals = f.select(pl.col(c).sum() for c in STATS_COLUMNS[1:]).row(0, named=True)
    pooled_cvr = totals["conversions"] / totals["clicks"] if totals["clicks"] else 0.0
    pooled_vpc = totals["conversion_value"] / totals["conversions"] if totals["conversions"] else 0.0
    cvr = (pl.col("conversions") + prior_clicks * pooled_cvr) / (pl.col("clicks") + prior_clicks)
    vpc = (pl.col("conversion_value") + prior_conversions * pooled_vpc) / (
        pl.col("conversions") + prior_conversions
    )
    cpc = pl.when(pl.col("clicks") > 0).then(pl.col("spend") / pl.col("clicks"))
    out = f.with_columns(
        pl.when(pl.col("conversions") > 0).then(pl.col("spend") / pl.col("conversions")).alias("cpa"),
        pl.when(pl.col("spend") > 0).then(pl.col("conversion_value") / pl.col("spend")).alias("roas"),
        cvr.alias("cvr_shrunk"),
        vpc.alias("value_per_conversion_shrunk"),
        cpc.alias("cpc"),
    ).with_columns(
        pl.when(pl.col("cvr_shrunk") > 0).then(pl.col("cpc") / pl.col("cvr_shrunk")).alias("cpa_shrunk"),
        (pl.col("cvr_shrunk") * pl.col("value_per_conversion_shrunk") / pl.col("cpc")).alias("roas_shrunk"),
    )
    bids = []
    if target_cpa is not None:
        bids.append((pl.lit(target_cpa) * pl.col("cvr_shrunk")).round(2).alias("bid_target_cpa"))
    if target_roas is not None:
        bids.append(
            (pl.col("cvr_shrunk") * pl.col("value_per_conversion_shrunk") / target_roas)
            .round(2)
            .alias("bid_target_roas")
        )
    return out.with_columns(bids) if bids else out


def ad_set_totals(ad_spend: pl.LazyFrame, campaign: str, platform: str | None = None) -> pl.DataFrame:
    """``STATS_COLUMNS`` per ad set of ``campaign`` from the lake's ``ad_spend`` rows."""
    rows = ad_spend.filter(pl.col("campaign") == campaign)
    if platform:
        rows = rows.filter(pl.col("platform") == platform)
    totals = (
        rows.group_by(pl.col("ad_set").fill_null(""))
        .agg(
            pl.col("spend").sum(),
            pl.col("clicks").sum(),
            pl.col("conversions").sum(),
            pl.col("conversion_value").sum(),
        )
        .sort("ad_set")
        .collect()
    )
    if totals.height == 0:
        raise InputError(f"no ad spend for campaign {campaign!r}" + (f" on {platform}" if platform else ""))
    return totals


def plans_for_pacing(
    ad_spend: pl.LazyFrame,
    pacing_rows: list[dict[str, object]],
    *,
    rng: np.random.Generator,
    floor: float,
    cap: float,
    prior_clicks: float,
) -> list[dict[str, object]]:
    """A dry-run split of each running flight's budget for today across its ad sets.

    Flights that ended, have not started, have no budget left today or no ad-set history are left
    out. Nothing is sent to a platform: the rows are a plan (``aicmo ads allocate --apply`` applies one).
    """
    rows: list[dict[str, object]] = []
    for p in pacing_rows:
        budget = float(p["today_budget"])  # type: ignore[arg-type]
        if p["status"] not in ("on_pace", "over", "under") or budget <= 0:
            continue
        campaign, platform = str(p["campaign"]), str(p.get("platform") or "") or None
        try:
            stats = ad_set_totals(ad_spend, campaign, platform)
        except InputError:
            continue
        plan = allocate(stats, budget, rng=rng, floor=floor, cap=cap, prior_clicks=prior_clicks)
        for ad_set, share, planned in plan.select("ad_set", "share", "budget").iter_rows():
            rows.append({"campaign": campaign, "ad_set": ad_set, "share": round(share, 4), "budget": planned})
    return rows
