"""``aicmo analytics``: KPIs, attribution and trends over the lake, and the aggregate flow."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Literal, cast

import typer
from rich.markup import escape

from aicmo.cli.commands.options import day_option
from aicmo.cli.console import console
from aicmo.cli.tables import frame_table
from aicmo.errors import InputError
from aicmo.wiring import engine, lake

if TYPE_CHECKING:
    import polars as pl

app = typer.Typer(help="Analytics over the lake: KPIs, attribution, trends.", no_args_is_help=True)

START = day_option("--start", "First day; default: the lake's first.")
END = day_option("--end", "Last day; default: the lake's last.")


def _print(df: pl.DataFrame, title: str) -> None:
    console.print(frame_table(df, title=title))


@app.command("kpis")
def kpis_cmd(
    start: date | None = START,
    end: date | None = END,
    by: str = typer.Option("channel", "--by", help="campaign, channel or overall."),
) -> None:
    """KPIs of the window per campaign, per channel or overall (bad events left out)."""
    from aicmo.tasks.analytics.campaigns import campaign_names_frame, known_campaign_ids
    from aicmo.tasks.analytics.kpis import ROLLUPS, window_rollups

    if by not in ROLLUPS:
        raise InputError(f"--by: expected one of {', '.join(ROLLUPS)}, got {by!r}")
    rollups = window_rollups(
        lake(),
        start,
        end,
        known_campaign_ids(engine()),
        datetime.now(UTC),
    )
    columns = [
        *ROLLUPS[by],
        "sends",
        "deliveries",
        "unique_opens",
        "unique_clicks",
        "conversions",
        "revenue",
        "cost",
        "open_rate",
        "ctr",
        "click_to_open",
        "conversion_rate",
        "roas",
    ]
    frame = rollups[by]
    if by == "campaign":
        frame = frame.join(campaign_names_frame(engine()), on="campaign_id", how="left")
        columns.insert(1, "campaign")
    _print(frame.select(columns), f"KPIs by {by}")


@app.command("attribution")
def attribution_cmd(
    start: date | None = START,
    end: date | None = END,
    value: str = typer.Option("conversions", "--value", help="conversions or revenue."),
    lookback: int | None = typer.Option(None, "--lookback-days", min=1, help="Default: from settings."),
    order: int | None = typer.Option(
        None, "--order", min=1, max=4, help="Markov chain order 1-4; default: from settings."
    ),
) -> None:
    """Conversions (or revenue) credited to each channel by every attribution model (see docs/ANALYTICS.md)."""
    from aicmo.settings import get_settings
    from aicmo.tasks.analytics.attribution import attribute_lake
    from aicmo.tasks.analytics.campaigns import known_campaign_ids

    if value not in ("conversions", "revenue"):
        raise InputError(f"--value: expected conversions or revenue, got {value!r}")
    settings = get_settings().analytics
    result = attribute_lake(
        lake(),
        start,
        end,
        known_campaign_ids(engine()),
        datetime.now(UTC),
        lookback or settings.attribution_lookback_days,
        settings.time_decay_half_life_days,
        order or settings.attribution_markov_order,
    )
    _print(result.by_channel(value), f"{value} credited per channel")
    _print(result.markov.frame(), f"Markov removal effects (order {result.markov.order}, exact)")
    _print(result.shapley.frame(), "Shapley values over channel sets (conversion and value rates)")
    console.print(
        f"{result.credited_conversions:,} of {result.conversions:,} conversions credited "
        f"({result.unattributed_conversions:,} without a touchpoint in the window)"
    )


@app.command("trends")
def trends_cmd(start: date | None = START, end: date | None = END) -> None:
    """Anomalous days of the window (seasonal robust z against the weeks before it) and broken campaigns."""
    import polars as pl

    from aicmo.settings import get_settings
    from aicmo.tasks.analytics.campaigns import known_campaign_ids
    from aicmo.tasks.analytics.kpis import window_rollups
    from aicmo.tasks.analytics.trends import window_trend_report

    settings = get_settings()
    if lake().scan("kpis_daily", start, end).select(pl.len()).collect().item() == 0:
        raise InputError("kpis_daily is empty for that window: run `aicmo analytics aggregate` first")
    campaigns = window_rollups(lake(), start, end, known_campaign_ids(engine()), datetime.now(UTC))[
        "campaign"
    ]
    report = window_trend_report(
        lake(),
        start,
        end,
        campaigns,
        threshold=settings.analytics.anomaly_z_threshold,
        out_dir=settings.artifacts_dir / "aggregate",
    )
    if report.anomalies.height:
        _print(report.anomalies, "Anomalous days")
    else:
        console.print("no anomalous day")
    if report.campaigns.height:
        _print(
            report.campaigns.select(
                "campaign_id", "channel", "metric", "value", "peer_median", "z", "reason"
            ),
            "Campaigns far below their peers",
        )
    for plot in report.plots:
        console.print(escape(f"plot: {plot}"))


@app.command("aggregate")
def aggregate_cmd(
    start: date | None = START,
    end: date | None = END,
    full: bool = typer.Option(False, "--full", help="Recompute every day (backfill), not just touched ones."),
) -> None:
    """Run the aggregate flow: incremental daily KPIs, roll-ups, attribution, trends, artifacts."""
    from aicmo.flows.aggregate import aggregate

    summary = aggregate(start=start, end=end, full=full)
    console.print_json(data=summary)


AS_OF = day_option("--as-of", "Observation day; default: the lake's last day of data.")


def _orders(day: date) -> pl.LazyFrame:
    """The lake's orders up to ``day``, amounts in the reporting currency (AICMO_REPORTING_CURRENCY)."""
    from aicmo.settings import get_settings
    from aicmo.tasks.analytics.orders import reporting_orders

    settings = get_settings()
    return reporting_orders(lake().scan("orders", end=day), settings.currency, settings.gateway)


def _as_of(value: date | None) -> date:
    from aicmo.tasks.analytics.score_steps import default_as_of

    return value or default_as_of(lake())


@app.command("score")
def score_cmd(
    as_of: date | None = AS_OF,
    tier_method: str = typer.Option(
        "thresholds", "--tier-method", help="thresholds (settings) or quantiles."
    ),
    period: str = typer.Option("month", "--period", help="Cohort period: month or week."),
) -> None:
    """Run the score flow: engagement, LTV, tiers, RFM segments, cohorts; writes contacts and the lake."""
    from aicmo.flows.score import score

    if tier_method not in ("thresholds", "quantiles"):
        raise InputError(f"--tier-method: expected thresholds or quantiles, got {tier_method!r}")
    if period not in ("month", "week"):
        raise InputError(f"--period: expected month or week, got {period!r}")
    summary = score(
        as_of=as_of,
        tier_method=cast(Literal["thresholds", "quantiles"], tier_method),
        cohort_period=cast(Literal["month", "week"], period),
    )
    console.print_json(data=summary)


@app.command("ltv")
def ltv_cmd(
    as_of: date | None = AS_OF,
    top: int = typer.Option(
        10, "--top", min=0, help="How many contacts with the highest predicted LTV to list."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Purchase model: bgnbd, mbgnbd or auto; default: from settings."
    ),
) -> None:
    """Fit the purchase model + Gamma-Gamma on the order log; parameters with 95% intervals, top LTVs (no writes)."""
    import polars as pl

    from aicmo.settings import get_settings
    from aicmo.tasks.analytics.ltv import compute_ltv

    day = _as_of(as_of)
    analytics = get_settings().analytics
    chosen = model or analytics.ltv_purchase_model
    if chosen not in ("bgnbd", "mbgnbd", "auto"):
        raise InputError(f"--model: expected bgnbd, mbgnbd or auto, got {chosen!r}")
    result = compute_ltv(
        _orders(day),
        day,
        horizon_days=analytics.ltv_horizon_days,
        discount_rate_annual=analytics.ltv_discount_rate_annual,
        purchase_model=cast(Literal["bgnbd", "mbgnbd", "auto"], chosen),
        holdout_days=analytics.ltv_holdout_days,
        spend_excludes_zero_orders=analytics.ltv_spend_excludes_zero_orders,
    )
    if result.frame.is_empty():
        raise InputError(f"no purchases on or before {day} in the lake's orders table")
    params = [
        {
            "model": fit_name,
            "parameter": k,
            "value": v,
            "std_error": fit.std_errors.get(k),
            "ci95_low": fit.confidence_intervals()[k][0],
            "ci95_high": fit.confidence_intervals()[k][1],
        }
        for fit_name, fit in (
            (result.bgnbd.model if result.bgnbd else "", result.bgnbd),
            ("gamma_gamma", result.gamma_gamma),
        )
        if fit is not None
        for k, v in fit.params().items()
    ]
    if params:
        _print(pl.DataFrame(params), f"Fitted parameters as of {day} (time in days)")
    if result.holdout is not None:
        errors = ", ".join(f"{m} {e:.4f}" for m, e in result.holdout.errors.items())
        console.print(f"holdout error per customer group: {errors}; using {result.holdout.chosen}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(
        f"{result.frame.height:,} customers, revenue to date {result.frame['revenue'].sum():,.2f}, "
        f"predicted {analytics.ltv_horizon_days}-day CLV {result.frame['predicted_ltv'].fill_null(0).sum():,.2f}"
    )
    if top:
        cols = ["contact_id", "orders", "revenue", "aov", "p_alive", "expected_purchases", "predicted_ltv"]
        best = result.frame.sort("predicted_ltv", descending=True, nulls_last=True).head(top).select(cols)
        _print(best, f"Top {top} by predicted LTV")


@app.command("ltv-check")
def ltv_check_cmd(
    as_of: date | None = AS_OF,
    holdout_days: int | None = typer.Option(
        None, "--holdout-days", min=7, help="Holdout length in days; default: from settings."
    ),
) -> None:
    """Calibration/holdout check: fit before the holdout, predict it, compare per frequency group (table + PNG)."""
    from datetime import timedelta

    from aicmo.settings import get_settings
    from aicmo.tasks.analytics.bgnbd import FitError
    from aicmo.tasks.analytics.ltv_holdout import holdout_check, plot_holdout

    day = _as_of(as_of)
    settings = get_settings()
    days = holdout_days or settings.analytics.ltv_holdout_days
    calibration_end = day - timedelta(days=days)
    try:
        check = holdout_check(_orders(day), calibration_end, day)
    except (ValueError, FitError) as exc:
        raise InputError(f"--holdout-days {days}: {exc}") from exc
    _print(check.table, f"Holdout purchases {calibration_end} .. {day}: actual vs predicted (group means)")
    for m, error in check.errors.items():
        console.print(f"{m}: mean absolute error {error:.4f}" + (" (chosen)" if m == check.chosen else ""))
    out = settings.artifacts_dir / "ltv" / day.isoformat() / f"holdout-{days}d.png"
    console.print(escape(f"plot: {plot_holdout(check, out)}"))


@app.command("cohorts")
def cohorts_cmd(
    as_of: date | None = AS_OF,
    period: str = typer.Option("month", "--period", help="month or week."),
    basis: str = typer.Option(
        "orders", "--basis", help="orders (purchases) or events (opens/clicks/conversions)."
    ),
    metric: str = typer.Option("retention", "--metric", help="retention or cumulative_revenue_per_customer."),
    last: int = typer.Option(12, "--last", min=1, help="Show the latest N cohorts."),
) -> None:
    """Cohort matrix by acquisition month or week, printed and drawn as a heatmap PNG."""
    import polars as pl

    from aicmo.settings import get_settings
    from aicmo.tasks.analytics.cohorts import cohort_matrix, cohort_table, heatmap_png
    from aicmo.tasks.analytics.engagement import ACTIVITY_TYPES

    if period not in ("month", "week"):
        raise InputError(f"--period: expected month or week, got {period!r}")
    if basis not in ("orders", "events"):
        raise InputError(f"--basis: expected orders or events, got {basis!r}")
    if metric not in ("retention", "cumulative_revenue_per_customer"):
        raise InputError(f"--metric: expected retention or cumulative_revenue_per_customer, got {metric!r}")
    day = _as_of(as_of)
    unit = cast(Literal["month", "week"], period)
    if basis == "orders":
        source = _orders(day).filter(pl.col("amount") > 0)
        table = cohort_table(source, period=unit, value="amount", as_of=day).collect(engine="streaming")
    else:
        source = lake().scan("events", end=day).filter(pl.col("type").is_in(ACTIVITY_TYPES))
        table = cohort_table(source, period=unit, value=None, as_of=day).collect(engine="streaming")
    if table.is_empty():
        raise InputError(f"no {basis} on or before {day} in the lake")
    wide = cohort_matrix(table, metric).tail(last)
    _print(wide.select(wide.columns[: 2 + 13]), f"{metric} by {period} cohort ({basis}) as of {day}")
    out = get_settings().artifacts_dir / "cohorts" / day.isoformat() / f"{basis}-{metric}-{period}.png"
    console.print(escape(f"heatmap: {heatmap_png(table, out, column=metric)}"))
