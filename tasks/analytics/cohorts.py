"""Cohort retention and revenue matrices by acquisition month or week, and their heatmaps.

A contact's cohort is the period of their first activity (first order, or first open/click/
conversion when built from events). For every cohort and every period since acquisition the
long table gives the active contacts, retention (active / cohort size), revenue, revenue per
cohort member and its running total. Periods are computed as integers (``year * 12 + month`` or
Monday-aligned week numbers) and the rows are first reduced to one per contact and period, so
20M orders cost one group-by over integers.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import polars as pl

from aicmo.tasks.analytics.png import pyplot, save_png

Period = Literal["month", "week"]
COHORT_SCHEMA = pl.Schema(
    {
        "cohort": pl.Date,
        "period": pl.Int32,
        "cohort_size": pl.UInt32,
        "active": pl.UInt32,
        "retention": pl.Float64,
        "revenue": pl.Float64,
        "revenue_per_customer": pl.Float64,
        "cumulative_revenue_per_customer": pl.Float64,
    }
)


def _period_key(ts: pl.Expr, period: Period) -> pl.Expr:
    if period == "month":
        return (ts.dt.year() * 12 + ts.dt.month().cast(pl.Int32) - 1).cast(pl.Int32)
    if period == "week":
        # 1970-01-01 was a Thursday; +3 makes weeks start on Monday.
        return ((ts.dt.date().cast(pl.Int32) + 3) // 7).cast(pl.Int32)
    raise ValueError(f"cohort period must be 'month' or 'week', not {period!r}")


def _key_to_date(key: pl.Expr, period: Period) -> pl.Expr:
    if period == "month":
        return pl.date(key // 12, key % 12 + 1, 1)
    return (key * 7 - 3).cast(pl.Date)


def _python_key(day: date, period: Period) -> int:
    if period == "month":
        return day.year * 12 + day.month - 1
    return ((day - date(1970, 1, 1)).days + 3) // 7


def cohort_table(
    activity: pl.LazyFrame,
    *,
    period: Period = "month",
    value: str | None = "amount",
    as_of: date | None = None,
) -> pl.LazyFrame:
    """The long cohort table (``COHORT_SCHEMA``) of ``activity`` (``contact_id``, ``ts`` and ``value``).

    With ``value=None`` revenue columns are 0 (e.g. activity from events). Rows after the end of
    ``as_of`` are left out, and with ``as_of`` every period from acquisition to ``as_of`` has a row
    (zero where nobody was active).
    """
    frame = activity.filter(pl.col("contact_id").is_not_null())
    if as_of is not None:
        frame = frame.filter(pl.col("ts").dt.date() <= as_of)
    amount = pl.col(value).fill_null(0.0) if value else pl.lit(0.0)
    per_contact_period = (
        frame.select("contact_id", _period_key(pl.col("ts"), period).alias("key"), amount.alias("amount"))
        .group_by("contact_id", "key")
        .agg(pl.col("amount").sum())
        .with_columns(pl.col("key").min().over("contact_id").alias("cohort_key"))
    )
    cells = per_contact_period.group_by(
        "cohort_key", (pl.col("key") - pl.col("cohort_key")).alias("period")
    ).agg(pl.len().alias("active"), pl.col("amount").sum().alias("revenue"))
    size = pl.col("active").filter(pl.col("period") == 0).first().over("cohort_key")
    cells = cells.with_columns(size.alias("cohort_size"))
    if as_of is not None:
        # Every period up to as_of gets a row, so a period nobody came back in reads 0, not missing.
        last_key = _python_key(as_of, period)
        grid = (
            cells.select("cohort_key", "cohort_size")
            .unique()
            .with_columns(
                pl.int_ranges(0, last_key - pl.col("cohort_key") + 1, dtype=pl.Int32).alias("period")
            )
            .explode("period")
        )
        cells = grid.join(cells.drop("cohort_size"), on=["cohort_key", "period"], how="left").with_columns(
            pl.col("active").fill_null(0), pl.col("revenue").fill_null(0.0)
        )
    return (
        cells.sort("cohort_key", "period")
        .with_columns(
            (pl.col("revenue") / pl.col("cohort_size")).alias("revenue_per_customer"),
        )
        .select(
            _key_to_date(pl.col("cohort_key"), period).alias("cohort"),
            pl.col("period").cast(pl.Int32),
            pl.col("cohort_size").cast(pl.UInt32),
            pl.col("active").cast(pl.UInt32),
            (pl.col("active") / pl.col("cohort_size")).alias("retention"),
            "revenue",
            "revenue_per_customer",
            pl.col("revenue_per_customer")
            .cum_sum()
            .over("cohort_key")
            .alias("cumulative_revenue_per_customer"),
        )
    )


def cohort_matrix(table: pl.DataFrame, column: str = "retention") -> pl.DataFrame:
    """The long table pivoted to one row per cohort, one column per period (``"0"``, ``"1"``, ...)."""
    if table.is_empty():
        return pl.DataFrame(schema={"cohort": pl.Date, "cohort_size": pl.UInt32})
    wide = table.pivot(on="period", index=["cohort", "cohort_size"], values=column, sort_columns=False)
    periods = sorted(int(c) for c in wide.columns if c not in ("cohort", "cohort_size"))
    return wide.select("cohort", "cohort_size", *[str(p) for p in periods]).sort("cohort")


def heatmap_png(
    table: pl.DataFrame, path: Path, *, column: str = "retention", title: str | None = None
) -> Path:
    """Draw the cohort x period matrix of ``column`` as a heatmap PNG at ``path`` (matplotlib, Agg)."""
    plt = pyplot()
    import numpy as np

    wide = cohort_matrix(table, column)
    periods = [c for c in wide.columns if c not in ("cohort", "cohort_size")]
    data = wide.select(periods).to_numpy().astype(float) if periods else np.zeros((0, 0))
    labels = [d.isoformat() for d in wide["cohort"].to_list()] if wide.height else []
    path.parent.mkdir(parents=True, exist_ok=True)
    height = max(3.0, 0.32 * len(labels) + 1.5)
    width = max(5.0, 0.45 * len(periods) + 2.5)
    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    try:
        masked = np.ma.masked_invalid(data)
        # Period 0 is 100% retention by definition; scale colours to the later periods.
        later = data[:, 1:] if data.ndim == 2 and data.shape[1] > 1 else data
        vmax = float(np.nanmax(later)) if later.size and np.isfinite(later).any() else 1.0
        vmax = vmax if vmax > 0 else 1.0
        image = ax.imshow(masked, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0.0, vmax=vmax)
        ax.set_xticks(range(len(periods)), periods, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("periods since acquisition")
        ax.set_ylabel("cohort")
        ax.set_title(title or f"cohort {column}")
        fig.colorbar(image, ax=ax)
        if data.size and data.shape[0] * data.shape[1] <= 400:
            fmt = "{:.0%}" if column == "retention" else "{:.0f}"
            for (i, j), v in np.ndenumerate(data):
                if np.isfinite(v):
                    colour = "black" if v > 0.6 * vmax else "white"
                    ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6, color=colour)
        save_png(fig, path)
    finally:
        plt.close(fig)
    return path
