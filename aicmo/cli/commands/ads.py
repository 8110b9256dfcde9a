"""``aicmo ads``: import platform reports, pace budgets, allocate, change budgets and bids, report cost and ROI."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from aicmo.cli.commands.options import day_option
from aicmo.cli.console import console, err_console, progress_bar
from aicmo.errors import InputError
from aicmo.wiring import engine, lake

if TYPE_CHECKING:
    import polars as pl

app = typer.Typer(
    help="Paid ads: report imports, pacing, allocation, bids, cost and ROI.", no_args_is_help=True
)


def _cell(value: Any) -> str:
    """A table cell; text from files and APIs is escaped, never read as rich markup."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.2f}"
    return escape(str(value))


def print_frame(df: pl.DataFrame, title: str) -> None:
    """A frame as a rich table, every cell escaped."""
    table = Table(title=escape(title))
    for col in df.columns:
        table.add_column(escape(col), justify="right" if df.schema[col].is_numeric() else "left")
    for row in df.iter_rows():
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


RATES = typer.Option(None, "--rates", help="Rates CSV (date,currency,rate); default AICMO_RATES_FILE.")


@app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(..., help="Google Ads, Meta Ads Manager or generic CSV reports."),
    rates: Path | None = RATES,
    currency: str | None = typer.Option(
        None, "--currency", help="The account's currency when the file has no currency column."
    ),
    account: str | None = typer.Option(
        None, "--account", help="The account's id or name when the file does not say."
    ),
    day_first: bool | None = typer.Option(
        None, "--day-first/--month-first", help="How to read dates such as 03/11/2026 (default: settings)."
    ),
) -> None:
    """Import reports into the lake's ad_spend, replacing the days they cover for their platform and account."""
    import polars as pl

    from aicmo.settings import get_settings
    from aicmo.tasks.ads.importer import ADS_RATES_HINT, import_reports, total_bytes
    from aicmo.tasks.analytics.rates import configured_rates, rates_hint

    everything = get_settings()
    settings = everything.ads
    money = everything.currency
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise InputError(f"--currency: not an ISO currency code: {currency!r}")
    with progress_bar("importing ad reports", total_bytes(files), in_bytes=True) as advance:
        report = import_reports(
            files,
            lake(),
            engine=engine(),
            rates=configured_rates(money, everything.gateway, rates),
            reporting_currency=money.reporting_currency,
            currency=currency.upper() if currency else None,
            account=account,
            day_first=settings.day_first if day_first is None else day_first,
            rates_hint=rates_hint(money, rates)
            if rates or money.rates_file or money.rates_url
            else ADS_RATES_HINT,
            progress=advance,
        )
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    print_frame(
        pl.DataFrame(
            [{**f, "start": str(f["start"]), "end": str(f["end"])} for f in report.files],
            schema={
                "path": pl.String,
                "format": pl.String,
                "rows": pl.Int64,
                "start": pl.String,
                "end": pl.String,
            },
        ),
        "ad reports read",
    )
    console.print(
        f"{report.rows_written:,} row(s) written over {report.days_written:,} day(s), "
        f"{report.rows_replaced:,} earlier row(s) replaced; spend {report.spend:,.2f} {report.reporting_currency}",
        highlight=False,
    )
    if report.rejected_rows:
        for line in report.rejected:
            err_console.print(f"[red]rejected:[/] {escape(line)}", highlight=False, soft_wrap=True)
        err_console.print(f"[yellow]{report.rejected_rows} bad row(s) left out[/]", highlight=False)
        raise typer.Exit(1)


START = day_option("--start", "First day; default: the lake's first.")
END = day_option("--end", "Last day; default: the lake's last.")
REPORT_LEVELS = ("platform", "campaign", "ad_set", "day", "channels")


@app.command("report")
def report_cmd(
    start: date | None = START,
    end: date | None = END,
    by: str = typer.Option("campaign", "--by", help="platform, campaign, ad_set, day or channels."),
) -> None:
    """Spend, delivery, CPC/CPM/CPA and ROAS of paid ads (writes ads_roi_daily), or beside owned channels."""
    from aicmo.settings import get_settings
    from aicmo.tasks.ads.roi import roi_report, write_daily_roi

    if by not in REPORT_LEVELS:
        raise InputError(f"--by: expected one of {', '.join(REPORT_LEVELS)}, got {by!r}")
    report = roi_report(lake(), start, end, currency=get_settings().currency)
    if report.daily.height == 0:
        raise InputError("no ad spend in that window: import reports with `aicmo ads import FILE...` first")
    write_daily_roi(lake(), report)
    frame = report.channels if by == "channels" else report.by[by]
    currency = get_settings().currency.reporting_currency
    print_frame(frame, f"paid ads by {by} ({currency})")


def _flights(
    campaign: str | None, budget: float | None, start: date | None, end: date | None, platform: str | None
) -> list[Any]:
    from aicmo.tasks.ads.pacing import Flight, store_flights

    if campaign is None:
        flights = store_flights(engine())
        if not flights:
            raise InputError(
                "no ads campaign with a budget and flight dates in the store: pass --campaign, --budget, --start, --end"
            )
        return flights
    missing = [
        name for name, value in (("--budget", budget), ("--start", start), ("--end", end)) if value is None
    ]
    if missing:
        raise InputError(f"--campaign needs {', '.join(missing)}")
    assert budget is not None and start is not None and end is not None
    return [Flight(campaign, budget, start, end, platform)]


@app.command("pace")
def pace_cmd(
    campaign: str | None = typer.Option(
        None, "--campaign", help="Campaign name as in the reports; default: the store's ads campaigns."
    ),
    budget: float | None = typer.Option(
        None, "--budget", min=0.01, help="Total budget of the flight (reporting currency)."
    ),
    start: date | None = day_option("--start", "First day of the flight."),
    end: date | None = day_option("--end", "Last day of the flight."),
    platform: str | None = typer.Option(
        None, "--platform", help="Only this platform's spend of the campaign."
    ),
    today: date | None = day_option("--today", "Day to pace for; default: today (UTC)."),
) -> None:
    """Today's budget per campaign to land on its total, and whether it over- or under-paces."""
    from datetime import UTC, datetime

    import polars as pl

    from aicmo.settings import get_settings
    from aicmo.tasks.ads.pacing import pace_flights

    day = today or datetime.now(UTC).date()
    flights = _flights(campaign, budget, start, end, platform)
    rows = [
        p.row()
        for p in pace_flights(flights, lake().scan("ad_spend"), day, get_settings().ads.pacing_tolerance)
    ]
    print_frame(pl.DataFrame(rows), f"pacing on {day}")


@app.command("allocate")
def allocate_cmd(
    campaign: str = typer.Option(..., "--campaign", help="Campaign name as in the reports."),
    budget: float = typer.Option(..., "--budget", min=0.01, help="Daily budget to split across its ad sets."),
    platform: str | None = typer.Option(
        None, "--platform", help="meta or google_ads (needed with --account)."
    ),
    account: str | None = typer.Option(
        None, "--account", help="Also change the ad sets' budgets on this account."
    ),
    objective: str = typer.Option("conversions", "--objective", help="conversions or value."),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the Thompson draws (for repeatable output)."
    ),
    apply: bool = typer.Option(False, "--apply", help="Make the changes (default: print them, dry run)."),
) -> None:
    """Split a daily budget across a campaign's ad sets by Thompson sampling; optionally set it on the platform."""
    import numpy as np

    from aicmo.settings import get_settings
    from aicmo.tasks.ads.allocation import ad_set_totals, allocate

    if objective not in ("conversions", "value"):
        raise InputError(f"--objective: expected conversions or value, got {objective!r}")
    if account is not None and platform is None:  # before any work: the plan could not be applied
        raise InputError("--account needs --platform (meta or google_ads)")
    settings = get_settings().ads
    stats = ad_set_totals(lake().scan("ad_spend"), campaign, platform)
    plan = allocate(
        stats,
        budget,
        rng=np.random.default_rng(seed),
        objective="value" if objective == "value" else "conversions",
        floor=settings.exploration_floor,
        cap=settings.max_share,
        prior_clicks=settings.prior_strength,
    )
    print_frame(plan, f"allocation of {budget:,.2f} across {campaign}")
    if account is None or platform is None:
        return
    _apply_budgets(platform, account, campaign, list(zip(plan["ad_set"], plan["budget"], strict=True)), apply)


def _apply_budgets(
    platform: str, account: str, campaign: str, plan: list[tuple[str, float]], apply: bool
) -> None:
    from aicmo.settings import get_settings
    from aicmo.tasks.ads.changes import budget_changes
    from aicmo.tasks.ads.connect import connect

    adapter = connect(platform, account, get_settings().ads)
    changes = budget_changes(adapter.list_ad_sets(), plan, campaign)
    if not changes:
        console.print("no change needed: the budgets already match the plan")
        return
    _make_changes(adapter, changes, dry_run=not apply)


def _make_changes(adapter: Any, changes: list[Any], *, dry_run: bool) -> None:
    """Make (or dry-run) the changes, each logged in ``ad_changes``; print one line per change and
    exit 1 if the platform refused any (its own message, on one line)."""
    from aicmo.tasks.ads.changes import apply_changes

    outcomes = apply_changes(adapter, changes, engine(), dry_run=dry_run)
    for outcome in outcomes:
        line = escape(outcome.change.describe())
        if outcome.status == "dry_run":
            console.print(f"[cyan]dry run:[/] {line}", highlight=False, soft_wrap=True)
        elif outcome.status == "applied":
            console.print(f"[green]applied:[/] {line}", highlight=False, soft_wrap=True)
        else:
            err_console.print(
                f"[red]failed:[/] {line}: {escape(str(outcome.error))}", highlight=False, soft_wrap=True
            )
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


PLATFORM = typer.Option(..., "--platform", help="meta or google_ads.")
ACCOUNT = typer.Option(..., "--account", help="Ad account (Meta act_123...) or Google Ads customer id.")
AD_SETS = typer.Option(..., "--ad-set", help="Ad set (Google: ad group) id or name; repeat for several.")
CAMPAIGN = typer.Option(None, "--campaign", help="Only ad sets of this campaign (when names repeat).")
DRY_RUN = typer.Option(False, "--dry-run", help="Print and log the change without making it.")


def _change_ad_sets(
    action: str,
    platform: str,
    account: str,
    ad_sets: list[str],
    campaign: str | None,
    value: float | None,
    dry_run: bool,
) -> None:
    from aicmo.settings import get_settings
    from aicmo.tasks.ads.changes import Change, find_ad_sets
    from aicmo.tasks.ads.connect import connect

    adapter = connect(platform, account, get_settings().ads)
    targets = find_ad_sets(adapter.list_ad_sets(), ad_sets, campaign)
    changes = [Change(action, target, value, reason="by hand") for target in targets]  # type: ignore[arg-type]
    _make_changes(adapter, changes, dry_run=dry_run)


@app.command("budget")
def budget_cmd(
    amount: float = typer.Argument(..., min=0, help="New daily budget, account currency (e.g. 62.50)."),
    platform: str = PLATFORM,
    account: str = ACCOUNT,
    ad_set: list[str] = AD_SETS,
    campaign: str | None = CAMPAIGN,
    dry_run: bool = DRY_RUN,
) -> None:
    """Set the daily budget of ad sets (Google: their campaign's budget); logged with the platform's answer."""
    _change_ad_sets("set_budget", platform, account, ad_set, campaign, round(amount, 2), dry_run)


@app.command("bid")
def bid_cmd(
    amount: float = typer.Argument(
        ..., min=0, help="New bid (Meta bid_amount, Google max CPC), account currency."
    ),
    platform: str = PLATFORM,
    account: str = ACCOUNT,
    ad_set: list[str] = AD_SETS,
    campaign: str | None = CAMPAIGN,
    dry_run: bool = DRY_RUN,
) -> None:
    """Set the bid of ad sets; logged with the platform's answer."""
    _change_ad_sets("set_bid", platform, account, ad_set, campaign, round(amount, 2), dry_run)


@app.command("pause")
def pause_cmd(
    platform: str = PLATFORM,
    account: str = ACCOUNT,
    ad_set: list[str] = AD_SETS,
    campaign: str | None = CAMPAIGN,
    dry_run: bool = DRY_RUN,
) -> None:
    """Pause ad sets; logged with the platform's answer."""
    _change_ad_sets("pause", platform, account, ad_set, campaign, None, dry_run)


@app.command("resume")
def resume_cmd(
    platform: str = PLATFORM,
    account: str = ACCOUNT,
    ad_set: list[str] = AD_SETS,
    campaign: str | None = CAMPAIGN,
    dry_run: bool = DRY_RUN,
) -> None:
    """Resume (activate) ad sets; logged with the platform's answer."""
    _change_ad_sets("resume", platform, account, ad_set, campaign, None, dry_run)


@app.command("bids")
def bids_cmd(
    campaign: str = typer.Option(..., "--campaign", help="Campaign name as in the reports."),
    target_cpa: float | None = typer.Option(None, "--target-cpa", help="Target cost per conversion."),
    target_roas: float | None = typer.Option(
        None, "--target-roas", help="Target return on ad spend (e.g. 4 = 400%)."
    ),
    platform: str | None = typer.Option(None, "--platform", help="Only this platform's ad sets."),
) -> None:
    """Max-CPC bid suggestions per ad set for a target CPA or ROAS, shrunk toward the campaign for small samples."""
    from aicmo.settings import get_settings
    from aicmo.tasks.ads.allocation import ad_set_totals, bid_suggestions

    if target_cpa is None and target_roas is None:
        raise InputError("give --target-cpa or --target-roas (or both)")
    stats = ad_set_totals(lake().scan("ad_spend"), campaign, platform)
    bids = bid_suggestions(
        stats, target_cpa=target_cpa, target_roas=target_roas, prior_clicks=get_settings().ads.prior_strength
    )
    print_frame(bids, f"bid suggestions for {campaign}")


@app.command("changes")
def changes_cmd(
    limit: int = typer.Option(20, "--limit", min=1, help="How many of the latest changes."),
) -> None:
    """The latest budget, bid and status changes sent (or dry-run) to the platforms, with their answers."""
    import polars as pl

    from aicmo.tasks.ads.changes import recent_change_rows

    rows = recent_change_rows(engine(), limit)
    if not rows:
        console.print("no change logged yet")
        return
    print_frame(pl.DataFrame(rows), "ad platform changes")
