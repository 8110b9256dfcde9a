"""Bad events: found, counted and kept out of the analytics, never folded in silently.

An event is bad when (first matching rule wins, in this order):

- ``duplicate_event_id``: another row carries the same ``event_id`` and came first (earliest
  ``ts``, then earliest partition day). The first copy is clean; each later copy is bad.
- ``future_timestamp``: ``ts`` is after the time of the check.
- ``negative_revenue``: ``revenue`` is below zero.
- ``unknown_campaign``: ``campaign_id`` is set but no campaign in the SQL store has that id
  (events without a campaign, e.g. organic visits, are fine).

KPIs and attribution read only the clean rows; :func:`quality_report` says how many rows of each
kind were left out, per day, so the numbers can be reconciled.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import polars as pl

ISSUES = ("duplicate_event_id", "future_timestamp", "negative_revenue", "unknown_campaign")
ISSUE_COLUMN = "issue"


def _day(events: pl.LazyFrame) -> pl.Expr:
    if "dt" in events.collect_schema().names():
        return pl.col("dt")
    return pl.col("ts").dt.date()


def flag_events(
    events: pl.LazyFrame,
    known_campaign_ids: Collection[int] | None,
    now: datetime,
    *,
    elsewhere: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """``events`` with an ``issue`` column: null for a clean row, else the first rule it breaks.

    ``known_campaign_ids`` None skips the campaign check (no store at hand). ``elsewhere`` is the
    ``(event_id, ts, dt)`` of events outside ``events`` (other partitions, when only some days are
    recomputed); a row is also a duplicate when its id came first there.
    """
    day = _day(events)
    scoped = events.with_columns(day.alias("__day"))
    rank = pl.int_range(pl.len()).over("event_id", order_by=["ts", "__day"])
    duplicate = rank > 0
    if elsewhere is not None:
        first_elsewhere = (
            elsewhere.select("event_id", "ts", pl.col("dt").alias("__day_other"))
            .join(scoped.select("event_id").unique(), on="event_id", how="semi")
            .group_by("event_id")
            .agg(
                pl.col("ts").min().alias("__ts_other"),
                pl.col("__day_other").sort_by("ts", "__day_other").first(),
            )
        )
        scoped = scoped.join(first_elsewhere, on="event_id", how="left")
        earlier = pl.col("__ts_other").is_not_null() & (
            (pl.col("__ts_other") < pl.col("ts"))
            | ((pl.col("__ts_other") == pl.col("ts")) & (pl.col("__day_other") < pl.col("__day")))
        )
        duplicate = duplicate | earlier
    rules: list[tuple[str, pl.Expr]] = [
        ("duplicate_event_id", duplicate),
        ("future_timestamp", pl.col("ts") > pl.lit(now).cast(pl.Datetime("us", "UTC"))),
        ("negative_revenue", pl.col("revenue").fill_null(0.0) < 0),
    ]
    if known_campaign_ids is not None:
        known = pl.Series("known", sorted(known_campaign_ids), dtype=pl.Int64)
        rules.append(
            (
                "unknown_campaign",
                pl.col("campaign_id").is_not_null() & ~pl.col("campaign_id").is_in(known.implode()),
            )
        )
    issue: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, cond in reversed(rules):
        issue = pl.when(cond).then(pl.lit(name)).otherwise(issue)
    out = scoped.with_columns(issue.alias(ISSUE_COLUMN))
    drop = [c for c in ("__day", "__ts_other", "__day_other") if c in out.collect_schema().names()]
    return out.drop(drop)


def clean(flagged: pl.LazyFrame) -> pl.LazyFrame:
    """The rows of a flagged frame that broke no rule, without the ``issue`` column."""
    return flagged.filter(pl.col(ISSUE_COLUMN).is_null()).drop(ISSUE_COLUMN)


def quality_report(flagged: pl.LazyFrame) -> pl.DataFrame:
    """Bad rows per day and issue (``day``, ``issue``, ``rows``), plus the day's total rows.

    Every issue appears for every day that has events, with 0 when none, so a report row is
    also proof that the rule ran.
    """
    day = _day(flagged)
    per_day = flagged.group_by(day.alias("day")).agg(
        pl.len().alias("total_rows"),
        *[(pl.col(ISSUE_COLUMN) == name).sum().cast(pl.Int64).alias(name) for name in ISSUES],
    )
    return (
        per_day.unpivot(
            index=["day", "total_rows"], on=list(ISSUES), variable_name="issue", value_name="rows"
        )
        .with_columns(pl.col("total_rows").cast(pl.Int64), pl.col("rows").cast(pl.Int64))
        .sort("day", "issue")
        .collect()
    )


def summarize(report: pl.DataFrame) -> dict[str, int]:
    """Totals of a :func:`quality_report`: rows per issue, ``bad_rows`` and ``total_rows``."""
    totals = {name: 0 for name in ISSUES}
    if report.height:
        for row in report.group_by("issue").agg(pl.col("rows").sum()).iter_rows(named=True):
            totals[row["issue"]] = int(row["rows"])
        total_rows = int(report.unique("day").get_column("total_rows").sum())
    else:
        total_rows = 0
    return {**totals, "bad_rows": sum(totals.values()), "total_rows": total_rows}


def markdown(report: pl.DataFrame) -> str:
    """A short markdown section on the bad rows, for the flow's summary artifact."""
    return markdown_from_totals(summarize(report))


def markdown_from_totals(totals: dict[str, int]) -> str:
    """The markdown section of :func:`markdown` from :func:`summarize`'s totals."""
    lines = [
        "## Data quality",
        "",
        f"{totals['bad_rows']:,} of {totals['total_rows']:,} events were left out of KPIs and attribution:",
        "",
        "| issue | rows |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {totals[name]:,} |" for name in ISSUES]
    return "\n".join(lines) + "\n"
