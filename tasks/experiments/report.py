"""The experiment report: per variant sends, metric, intervals, the decision and when; the lift; a plot.

The same rows feed ``aicmo experiments report`` (a console table) and the flow's Prefect
artifacts (a table, and markdown with the metric-over-time plot embedded as a data-URI PNG so it
shows in the UI without a file server). Variant names come from the campaign definition, a file:
they are escaped wherever they are rendered.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from aicmo.models.base import utcnow
from aicmo.storage.db import transaction
from aicmo.storage.experiments import experiment_by_name, holdout_contact_ids, sent_rows
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.png import pyplot, save_png
from aicmo.tasks.experiments.measure import arms, orders, outcomes, per_contact, sends_frame, series
from aicmo.tasks.experiments.stats import Arm, Difference, compare, normal_quantile, welch_interval

_Z95 = normal_quantile(0.975)


@dataclass
class ExperimentReport:
    """Everything the report shows."""

    campaign: str
    campaign_id: int
    metric: str
    status: str
    per_variant: int
    alpha: float
    mde: float
    started_at: datetime
    deadline_at: datetime
    decision: str | None
    decided_at: datetime | None
    winner: str | None
    looks: int
    variants: list[dict[str, Any]] = field(default_factory=list)
    lift: list[dict[str, Any]] = field(default_factory=list)
    over_time: list[dict[str, object]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _interval(arm: Arm) -> tuple[float | None, float | None]:
    if arm.sends < 2:
        return None, None
    var = max(0.0, (arm.total_sq - arm.sends * arm.mean**2) / (arm.sends - 1))
    half = _Z95 * math.sqrt(var / arm.sends)
    return arm.mean - half, arm.mean + half


def _lift_rows(treated: Arm, held: Arm, what: str) -> dict[str, Any]:
    d: Difference = welch_interval(treated, held)
    return {
        "measure": what,
        "treated": d.treated,
        "holdout": d.holdout,
        "lift": d.difference,
        "low_95": d.low if math.isfinite(d.low) else None,
        "high_95": d.high if math.isfinite(d.high) else None,
        "relative": d.relative,
    }


def _lift(
    lake: Lake, treated_ids: list[int], held_ids: list[int], since: datetime, until: datetime
) -> list[dict[str, Any]]:
    if not held_ids:
        return []
    found = orders(lake, [*treated_ids, *held_ids], until).filter(pl.col("ts") >= since)
    per = found.group_by("contact_id").agg(pl.col("value").sum().alias("revenue"))
    revenue = dict(zip(per["contact_id"].to_list(), per["revenue"].to_list(), strict=True))

    def arm(ids: list[int], converted: bool) -> Arm:
        values = [
            (1.0 if cid in revenue else 0.0) if converted else float(revenue.get(cid, 0.0)) for cid in ids
        ]
        return Arm(len(values), sum(values), sum(v * v for v in values))

    return [
        {
            "contacts_treated": len(treated_ids),
            "contacts_holdout": len(held_ids),
            **_lift_rows(arm(treated_ids, True), arm(held_ids, True), "conversion per contact"),
        },
        {
            "contacts_treated": len(treated_ids),
            "contacts_holdout": len(held_ids),
            **_lift_rows(arm(treated_ids, False), arm(held_ids, False), "revenue per contact"),
        },
    ]


def build_report(engine: Engine, lake: Lake, name: str, *, now: datetime | None = None) -> ExperimentReport:
    """The report of campaign ``name``'s experiment, measured at ``now``."""
    now = now or utcnow()
    with transaction(engine) as session:
        campaign, e = experiment_by_name(session, name)
        rows = sent_rows(session, campaign.id, e.channel)
        held = holdout_contact_ids(session, campaign.id)
        names = list(e.variants)
        report = ExperimentReport(
            campaign.name,
            campaign.id,
            e.metric,
            e.status,
            e.per_variant,
            e.alpha,
            e.mde,
            e.started_at,
            e.deadline_at,
            e.decision,
            e.decided_at,
            names[e.winner] if e.winner is not None and e.winner < len(names) else None,
            e.looks,
            names=names,
        )
        min_p = list(e.min_p)
    sends = sends_frame(rows)
    if names:
        found = outcomes(lake, campaign.id, e.metric, sends["contact_id"].to_list(), now)
        # the test's figures stop at the decision; the winner's later sends to the rest are counted apart
        test_sends = sends.filter(pl.col("sent_at") <= e.decided_at) if e.decided_at else sends
        observed = arms(per_contact(test_sends, found, e.metric, now), len(names))
        all_sends = dict(sends.group_by("variant_id").len().iter_rows())
        per = e.alpha / max(1, len(names) - 1)
        for index, (variant, arm) in enumerate(zip(names, observed, strict=True)):
            low, high = _interval(arm)
            row: dict[str, Any] = {
                "variant": variant,
                "role": "control" if index == 0 else "challenger",
                "sends": arm.sends,
                "sent_in_all": int(all_sends.get(index, 0)),
                e.metric if e.metric == "revenue" else f"{e.metric}s": arm.total,
                "per_send": arm.mean,
                "low_95": low,
                "high_95": high,
                "vs_control": None,
                "always_valid_low": None,
                "always_valid_high": None,
                "p_always_valid": None,
            }
            if index > 0:
                c = compare(observed[0], arm, tau=e.mde, alpha=per)
                row.update(
                    vs_control=c.difference,
                    always_valid_low=c.low if math.isfinite(c.low) else None,
                    always_valid_high=c.high if math.isfinite(c.high) else None,
                    p_always_valid=min(min_p[index - 1], c.p_value) if index - 1 < len(min_p) else c.p_value,
                )
            if report.winner == variant:
                row["role"] += ", winner"
            report.variants.append(row)
        end = min(now, e.decided_at or now) if e.decided_at else now
        report.over_time = series(
            sends.filter(pl.col("variant_id").is_not_null()),
            found,
            e.metric,
            len(names),
            e.started_at,
            max(end, e.started_at),
        )
    treated = sorted(set(sends["contact_id"].to_list()))
    report.lift = _lift(lake, treated, held, e.started_at, now)
    return report


def plot(report: ExperimentReport, path: Path) -> Path | None:
    """The metric per send of each variant over the hours since the test began, as a PNG."""
    if not report.over_time:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    try:
        for index, name in enumerate(report.names):
            points = [p for p in report.over_time if p["variant"] == index]
            ax.plot([p["hour"] for p in points], [p["metric"] for p in points], label=name, marker=".")
        ax.set_xlabel("hours since the test began")
        ax.set_ylabel(f"{report.metric} per send (human only)")
        ax.set_title(f"{report.campaign}: {report.metric} per send by variant")
        ax.legend()
        path.parent.mkdir(parents=True, exist_ok=True)
        return save_png(fig, path)
    finally:
        plt.close(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return html.escape(str(value)).replace("|", "&#124;")


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "none\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(report: ExperimentReport, png: Path | None) -> str:
    """The report as markdown, the plot embedded as a data-URI PNG (text escaped)."""
    decision = (
        f"**Decision** ({_fmt(report.decided_at)}): {_fmt(report.decision)}"
        if report.decision
        else f"**No decision yet**: {report.looks} looks; deadline {_fmt(report.deadline_at)}"
    )
    parts = [
        f"# Experiment of {_fmt(report.campaign)}\n",
        f"Metric: {report.metric} per send (machine opens and scanner clicks excluded); "
        f"planned {report.per_variant:,} sends per variant for a difference of {report.mde:g} "
        f"at alpha {report.alpha:g} (mSPRT, always valid). Started {_fmt(report.started_at)}.\n",
        decision + "\n",
        "## Variants\n",
        _md_table(report.variants),
    ]
    if report.lift:
        parts += ["## Holdout lift (treated - holdout, 95% interval)\n", _md_table(report.lift)]
    if png is not None:
        data = base64.b64encode(png.read_bytes()).decode()
        parts += [
            "## Metric over time\n",
            f"![{report.metric} per send over time](data:image/png;base64,{data})\n",
        ]
    return "\n".join(parts)
