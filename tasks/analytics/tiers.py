"""Customer tiers (bronze/silver/gold/platinum) and RFM segments, as Polars expressions.

Tiers come from a customer's lifetime value, ``historical + predicted`` by default, cut either at
fixed thresholds (``settings.analytics.tier_thresholds``, e.g. silver from 100, gold from 500,
platinum from 2000) or at quantiles of the current population.

RFM segments follow the usual 1-5 scoring grid: recency (days since the last purchase, recent is
5), frequency (orders) and monetary (revenue) are each scored by quintile of the population (ties
share a score, from the share of customers strictly below them); the segment is read off the
recency (rows) x frequency (columns) grid below; the monetary score is kept for finer selection.

    R / F   1                2                    3                    4               5
    5       new              potential_loyalist   potential_loyalist   champions       champions
    4       promising        potential_loyalist   potential_loyalist   loyal           loyal
    3       about_to_sleep   about_to_sleep       need_attention       loyal           loyal
    2       hibernating      hibernating          at_risk              at_risk         cant_lose_them
    1       lost             hibernating          at_risk              at_risk         cant_lose_them
"""

from __future__ import annotations

from datetime import date

import polars as pl

from aicmo.errors import ConfigError
from aicmo.models.analytics import TIERS

RFM_SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose_them",
    "hibernating",
    "lost",
)
DEFAULT_TIER_QUANTILES = {"silver": 0.5, "gold": 0.8, "platinum": 0.95}


def check_thresholds(
    thresholds: dict[str, float], *, what: str = "tier_thresholds"
) -> list[tuple[str, float]]:
    """The thresholds as ``[(tier, lower bound)]`` from the top tier down, validated.

    Keys must be tiers above bronze and bounds must grow with the tier; otherwise a
    ``ConfigError`` names the setting.
    """
    unknown = sorted(set(thresholds) - set(TIERS[1:]))
    if unknown:
        raise ConfigError(
            f"AICMO_ANALYTICS_{what.upper()}: unknown tier(s) {unknown}; expected {list(TIERS[1:])}"
        )
    ordered = [(t, float(thresholds[t])) for t in TIERS[1:] if t in thresholds]
    bounds = [b for _, b in ordered]
    if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
        raise ConfigError(
            f"AICMO_ANALYTICS_{what.upper()}: bounds must increase with the tier, got {dict(ordered)}"
        )
    return list(reversed(ordered))


def tier_expr(value: pl.Expr, thresholds: dict[str, float]) -> pl.Expr:
    """The tier of ``value``: the highest tier whose lower bound it reaches, else bronze (null stays null)."""
    expr: pl.Expr = pl.lit("bronze")
    for tier, bound in reversed(check_thresholds(thresholds)):
        expr = pl.when(value >= bound).then(pl.lit(tier)).otherwise(expr)
    return pl.when(value.is_null()).then(pl.lit(None, pl.String)).otherwise(expr)


def quantile_thresholds(values: pl.Series, quantiles: dict[str, float] | None = None) -> dict[str, float]:
    """Thresholds at quantiles of ``values`` (default: silver top 50%, gold top 20%, platinum top 5%)."""
    quantiles = quantiles or DEFAULT_TIER_QUANTILES
    check_thresholds(quantiles, what="tier_quantiles")
    if any(not 0.0 < q < 1.0 for q in quantiles.values()):
        raise ConfigError(f"AICMO_ANALYTICS_TIER_QUANTILES: quantiles must be in (0, 1), got {quantiles}")
    clean = values.drop_nulls()
    if clean.is_empty():
        return {}
    out: dict[str, float] = {}
    previous = float("-inf")
    for tier, q in sorted(quantiles.items(), key=lambda kv: kv[1]):
        bound = float(clean.quantile(q, interpolation="linear") or 0.0)
        # Ties at a quantile would give two tiers one bound; nudge up so bounds stay increasing.
        bound = max(bound, previous + 1e-9)
        out[tier] = bound
        previous = bound
    return out


def assign_tiers(
    ltv: pl.LazyFrame,
    *,
    thresholds: dict[str, float] | None = None,
    quantiles: dict[str, float] | None = None,
    value: str = "ltv_value",
) -> pl.LazyFrame:
    """Add ``tier`` from ``value`` by fixed thresholds, or by quantiles of the population when given."""
    if (thresholds is None) == (quantiles is None):
        raise ValueError("give exactly one of thresholds or quantiles")
    if quantiles is not None:
        thresholds = quantile_thresholds(ltv.select(value).collect().to_series(), quantiles)
    assert thresholds is not None
    return ltv.with_columns(tier_expr(pl.col(value), thresholds).alias("tier"))


def quintile_score(column: pl.Expr, *, descending: bool = False) -> pl.Expr:
    """1-5 from the share of the population strictly below (``descending``: strictly worse when larger).

    Ties share a score, and a large tie at the bottom (say half the customers with one order)
    all score 1 rather than being spread over two quintiles.
    """
    below = column.rank("min", descending=descending) - 1
    return (below * 5 // column.count() + 1).clip(1, 5).cast(pl.Int8)


def rfm_segment_expr(r: pl.Expr, f: pl.Expr) -> pl.Expr:
    """The segment of a recency score ``r`` and frequency score ``f`` on the grid in the module docstring."""
    return (
        pl.when((r == 5) & (f >= 4))
        .then(pl.lit("champions"))
        .when((r >= 3) & (f >= 4))
        .then(pl.lit("loyal"))
        .when((r >= 4) & (f >= 2))
        .then(pl.lit("potential_loyalist"))
        .when((r == 5) & (f == 1))
        .then(pl.lit("new"))
        .when((r == 4) & (f == 1))
        .then(pl.lit("promising"))
        .when((r == 3) & (f == 3))
        .then(pl.lit("need_attention"))
        .when(r == 3)
        .then(pl.lit("about_to_sleep"))
        .when(f == 5)
        .then(pl.lit("cant_lose_them"))
        .when(f >= 3)
        .then(pl.lit("at_risk"))
        .when((r == 1) & (f == 1))
        .then(pl.lit("lost"))
        .otherwise(pl.lit("hibernating"))
    )


def rfm_segments(summary: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Add ``r_score``, ``f_score``, ``m_score``, ``rfm_score`` (e.g. ``"545"``) and ``rfm_segment``.

    ``summary`` is the RFM summary (``last_purchase``, ``orders``, ``revenue`` per contact).
    """
    days_since = (pl.lit(as_of).cast(pl.Date) - pl.col("last_purchase")).dt.total_days()
    scored = summary.with_columns(
        quintile_score(days_since, descending=True).alias("r_score"),
        quintile_score(pl.col("orders")).alias("f_score"),
        quintile_score(pl.col("revenue")).alias("m_score"),
    )
    return scored.with_columns(
        pl.concat_str(
            pl.col("r_score").cast(pl.String),
            pl.col("f_score").cast(pl.String),
            pl.col("m_score").cast(pl.String),
        ).alias("rfm_score"),
        rfm_segment_expr(pl.col("r_score"), pl.col("f_score")).alias("rfm_segment"),
    )
