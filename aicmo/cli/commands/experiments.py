"""``aicmo experiments``: plan a test's sample, decide what is ready, report variants and lift."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from aicmo.cli.console import console
from aicmo.cli.tables import rows_table
from aicmo.errors import InputError
from aicmo.wiring import engine, lake

app = typer.Typer(help="A/B/n experiments and holdouts of campaigns.", no_args_is_help=True)


@app.command("plan")
def plan_cmd(
    file: Path = typer.Argument(..., help="Campaign definition with an experiment (.yaml/.json)."),
) -> None:
    """The sample the test needs for its stated effect, before anything is sent."""
    from aicmo.tasks.experiments.planning import plan_of
    from aicmo.tasks.publishing.definition import load_definition

    definition = load_definition(file)
    spec = definition.experiment
    if spec is None:
        raise InputError(f"{file}: no experiment section (variants, metric, mde...)")
    console.print(plan_text(definition.name, spec, plan_of(spec)))


def plan_text(name: str, spec: object, plan: object, audience: int | None = None) -> str:
    """The plan in words: holdout, variants, the sample and why, the deadline; with the audience, the split."""
    from aicmo.tasks.experiments.spec import ExperimentSpec
    from aicmo.tasks.experiments.stats import Plan

    assert isinstance(spec, ExperimentSpec)
    lines = [f"[bold]{escape(name)}[/]: holdout {spec.holdout:.1%} of the audience receives nothing"]
    if isinstance(plan, Plan):
        names = ", ".join(escape(v.name) for v in spec.variants)
        lines += [
            f"variants: {names} ({escape(spec.variants[0].name)} is the control); metric: {spec.metric} per send",
            f"to find a difference of {spec.mde:g} from {spec.baseline:g} with power {spec.power:.0%} "
            f"at alpha {spec.alpha:g} (always valid, {plan.variants - 1} comparison(s) at "
            f"{plan.alpha_per_comparison:.4g} each):",
            f"  test sample: {plan.per_variant:,} sends per variant, {plan.total:,} in all "
            f"(a one-look test would need {plan.fixed_horizon_per_variant:,} per variant but may not be peeked at)",
            f"  deadline: {spec.deadline_h:g} h after the start; then "
            f"{escape(spec.variants[spec.default_index].name)} is sent if no difference is found",
        ]
        if audience is not None:
            treatable = round(audience * (1 - spec.holdout))
            if treatable < plan.total:
                lines.append(
                    f"  [bold]audience too small[/]: about {treatable:,} contacts can be treated, fewer than "
                    f"the {plan.total:,} the test needs; all of them are tested, with less power than planned"
                )
            else:
                lines.append(
                    f"  audience {audience:,}: about {audience - treatable:,} held out, {plan.total:,} in the test, "
                    f"{treatable - plan.total:,} get the winner"
                )
    return "\n".join(lines)


@app.command("decide")
def decide_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """Look at the campaign's test now; if decided, the winner is planned for the rest of the audience."""
    from aicmo.storage.db import transaction
    from aicmo.storage.experiments import experiment_by_name
    from aicmo.tasks.experiments.decide import advance

    eng = engine()
    with transaction(eng) as session:
        campaign, _ = experiment_by_name(session, name)
        campaign_id = campaign.id
    progress = advance(eng, lake(), campaign_id)
    if progress.already:
        console.print(f"{escape(name)}: already decided: {escape(progress.already)}")
    elif progress.decided and progress.look is not None:
        console.print(
            f"{escape(name)}: decided: {escape(progress.look.reason or '')}; "
            f"{progress.rest_planned:,} more rows planned (send them with 'aicmo campaigns send {escape(name)}')"
        )
    else:
        console.print(f"{escape(name)}: no decision yet")


@app.command("report")
def report_cmd(name: str = typer.Argument(..., help="Campaign name.")) -> None:
    """Per variant sends, metric, intervals, the decision and when; holdout lift; a plot."""
    from aicmo.tasks.experiments.report import build_report, plot

    report = build_report(engine(), lake(), name)
    console.print(
        f"[bold]{escape(report.campaign)}[/]: {report.metric} per send, {report.status}, "
        f"{report.looks} looks, planned {report.per_variant:,} per variant"
    )
    if report.decision:
        console.print(f"decision at {report.decided_at:%Y-%m-%d %H:%M} UTC: {escape(report.decision)}")
    else:
        console.print(f"no decision yet; deadline {report.deadline_at:%Y-%m-%d %H:%M} UTC")
    if report.variants:
        console.print(rows_table(report.variants, title="variants"))
    if report.lift:
        console.print(rows_table(report.lift, title="holdout lift (treated - holdout, 95% interval)"))
    from aicmo.settings import get_settings

    png = plot(report, get_settings().artifacts_dir / f"experiment-{report.campaign_id}.png")
    if png is not None:
        console.print(f"plot: {escape(str(png))}")
