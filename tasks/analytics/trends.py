"""Trends over the daily KPIs: moving averages, week-over-week change, and anomalies.

Daily series (overall and per channel) are made from ``kpis_daily``, with every calendar day
present (a quiet day is a zero, not a gap, so windows span real days). Per metric:

- ``ma7`` / ``ma28``: trailing 7- and 28-day means (null until the window is full);
- ``wow_change``: relative change against the same weekday one week earlier (null when that
  day was zero).

Anomalies use a robust z-score against a *seasonal* baseline: the baseline of a day is the
median of the same weekday in the previous ``weeks`` weeks, so a Saturday is compared with
earlier Saturdays and normal weekend dips stay quiet. The spread is the MAD of the relative
residuals ``|x - baseline| / baseline`` pooled over the whole series (six same-weekday points
are too few to estimate a spread; sixty residuals are not), scaled back by the day's baseline:
``z = (x - baseline) / scale`` with ``scale`` the root sum of squares of the spread
``1.4826 * MAD_rel * baseline`` and the day's own sampling noise: Poisson ``sqrt(baseline + 1)`` for counts, binomial
``sqrt(p (1 - p) / n)`` for a rate over ``n`` (so a Sunday's open rate over few deliveries is
allowed its wider wobble), times ``sqrt(1 + pi / 2k)`` for the noise of a median of ``k`` days.

Campaigns are single bursts without a history of their own, so a broken campaign is found
against its *peers*: the robust z of its open rate (and click rate) among the same channel's
campaigns, or a zero where the peers' median rate would have produced at least
``min_expected`` opens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.kpis import COUNT_COLUMNS, MONEY_COLUMNS, UNIQUE_COLUMNS, rate_exprs
from aicmo.tasks.analytics.png import pyplot, save_png

TREND_METRICS = (
    "sends",
    "deliveries",
    "bounces",
    "unique_opens",
    "unique_clicks",
    "conversions",
    "unsubscribes",
    "complaints",
    "revenue",
    "cost",
    "delivery_rate",
    "bounce_rate",
    "open_rate",
    "ctr",
    "conversion_rate",
    "unsubscribe_rate",
)
ANOMALY_METRICS = (
    "delivery_rate",
    "bounce_rate",
    "unsubscribe_rate",
    "unique_clicks",
    "conversions",
)
"""Metrics the flow watches for anomalies. Send volumes (sends, deliveries, bounces) follow the
campaign calendar, so a big send is a plan, not an anomaly; their rates are what breaks. Clicks
and conversions are watched as volumes (always-on channels give them a weekly rhythm). Revenue
and cost are left out: a few large orders make them heavy-tailed, and a big-order day is news
for the sales team, not a broken pipeline. Open and
click rates by event day are left to the per-campaign check: opens of earlier sends land on
days without sends, so a day's open rate mixes campaigns (it can even exceed 1)."""
COUNT_METRICS = frozenset({*COUNT_COLUMNS, *UNIQUE_COLUMNS})
RATE_DENOMINATORS = {
    "delivery_rate": "sends",
    "bounce_rate": "sends",
    "open_rate": "open_tracked_deliveries",
    "ctr": "deliveries",
    "click_to_open": "unique_opens",
    "conversion_rate": "unique_clicks",
    "unsubscribe_rate": "deliveries",
}
MAD_SCALE = 1.4826
BASELINE_WEEKS = 6
"""Same-weekday days in a day's baseline (see ``docs/ANALYTICS.md`` for how it was chosen)."""
MIN_HISTORY = 3
"""Same-weekday days a day needs before it is judged against them."""
Z_THRESHOLD = 4.5
"""Default robust z beyond which a day is an anomaly (the flows take ``AICMO_ANALYTICS_ANOMALY_Z_THRESHOLD``)."""


def daily_series(kpis_daily: pl.DataFrame, keys: Sequence[str] = ()) -> pl.DataFrame:
    """Daily totals per ``keys`` (e.g. ``("channel",)``; empty = overall) with every calendar day.

    Additive columns are summed over campaigns and the rates recomputed. Unique counts are summed
    too: a contact who opened two campaigns on one day counts twice (opener x campaign pairs).
    """
    keys = list(keys)
    additive = [*COUNT_COLUMNS, *UNIQUE_COLUMNS, *MONEY_COLUMNS]
    if kpis_daily.height == 0:
        return pl.DataFrame(schema={"day": pl.Date, **{k: kpis_daily.schema[k] for k in keys}})
    summed = kpis_daily.group_by(["day", *keys]).agg(pl.col(c).sum() for c in additive)
    first, last = summed["day"].min(), summed["day"].max()
    assert isinstance(first, date) and isinstance(last, date)
    calendar = pl.DataFrame({"day": pl.date_range(first, last, "1d", eager=True)})
    grid = calendar.join(summed.select(keys).unique(), how="cross") if keys else calendar
    full = grid.join(summed, on=["day", *keys], how="left", nulls_equal=True).with_columns(
        pl.col(c).fill_null(0) for c in additive
    )
    return full.with_columns(rate_exprs()).sort([*keys, "day"])


def trend_table(
    series: pl.DataFrame, keys: Sequence[str] = (), metrics: Sequence[str] = TREND_METRICS
) -> pl.DataFrame:
    """Long table: ``day``, keys, ``metric``, ``value``, ``ma7``, ``ma28``, ``wow_change``.

    Rates also carry their ``denominator`` (e.g. deliveries for the open rate) for the noise floor.
    """
    keys = list(keys)
    parts = [
        series.select(
            "day",
            *keys,
            pl.lit(m).alias("metric"),
            pl.col(m).cast(pl.Float64).alias("value"),
            (pl.col(RATE_DENOMINATORS[m]) if m in RATE_DENOMINATORS else pl.lit(None))
            .cast(pl.Float64)
            .alias("denominator"),
        )
        for m in metrics
    ]
    long = pl.concat(parts).sort([*keys, "metric", "day"])
    group = [*keys, "metric"]
    previous = pl.col("value").shift(7).over(group)
    return long.with_columns(
        pl.col("value").rolling_mean(7).over(group).alias("ma7"),
        pl.col("value").rolling_mean(28).over(group).alias("ma28"),
        pl.when(previous != 0).then(pl.col("value") / previous - 1.0).otherwise(None).alias("wow_change"),
    )


def seasonal_anomalies(
    trends: pl.DataFrame,
    keys: Sequence[str] = (),
    *,
    threshold: float = Z_THRESHOLD,
    weeks: int = BASELINE_WEEKS,
    min_history: int = MIN_HISTORY,
    min_count_baseline: float = 10.0,
    min_denominator: float = 50.0,
    metrics: Sequence[str] | None = ANOMALY_METRICS,
) -> pl.DataFrame:
    """``trends`` (only ``metrics``; None = all) with ``baseline``, ``scale``, ``z`` and ``anomaly``.

    The baseline is the median of the same weekday over the previous ``weeks`` weeks (at least
    ``min_history`` of them). For a rate, a weekday with less history (a campaign calendar that
    rarely sends on Sundays) falls back to the median of the trailing 28 days; volumes keep their
    weekly rhythm, so a count without same-weekday history is not judged. The current day never enters
    its own baseline. Only steady series are judged: a rate needs ``min_denominator`` (e.g. 50
    sends) on the day and on each baseline day; a count needs a baseline of ``min_count_baseline``,
    since a burst of campaign sends against a zero baseline is the schedule, not an anomaly.
    """
    if metrics is not None:
        trends = trends.filter(pl.col("metric").is_in(pl.Series(list(metrics), dtype=pl.String).implode()))
    is_count = pl.col("metric").is_in(pl.Series(sorted(COUNT_METRICS)).implode())
    is_rate = pl.col("metric").is_in(pl.Series(sorted(RATE_DENOMINATORS)).implode())
    thin = is_rate & (pl.col("denominator").fill_null(0.0) < min_denominator)
    series = [*list(keys), "metric"]
    group = [*series, "weekday"]
    lags = [pl.col("__v").shift(k).over(group).alias(f"__lag{k}") for k in range(1, weeks + 1)]
    frame = (
        trends.with_columns(
            pl.col("day").dt.weekday().alias("weekday"),
            pl.when(thin).then(None).otherwise(pl.col("value")).alias("__v"),
        )
        .sort([*series, "day"])
        .with_columns(
            pl.col("__v")
            .shift(1)
            .rolling_median(28, min_samples=min_history)
            .over(series)
            .alias("__trailing")
        )
        .sort([*group, "day"])
        .with_columns(lags)
        .with_columns(
            pl.concat_list([f"__lag{k}" for k in range(1, weeks + 1)]).list.drop_nulls().alias("__hist")
        )
        .with_columns(
            pl.when(pl.col("__hist").list.len() >= min_history)
            .then(pl.col("__hist").list.median())
            .when(is_rate)
            .then(pl.col("__trailing"))
            .alias("baseline")
        )
    )
    resid = pl.col("value") - pl.col("baseline")
    relative = pl.when(pl.col("baseline").abs() > 0).then(resid.abs() / pl.col("baseline").abs())
    # sampling noise of the day and of a median of k points (variance factor 1 + pi / 2k)
    k = pl.max_horizontal(pl.col("__hist").list.len(), pl.lit(min_history)).cast(pl.Float64)
    median_noise = (1.0 + math.pi / (2.0 * k)).sqrt()
    # binomial noise with an add-one estimate of p (at least the series' mean rate), so a zero
    # baseline (no unsubscribes on the usual day) still allows for the one that comes along
    n = pl.col("denominator")
    p = (
        pl.max_horizontal(pl.col("baseline"), pl.col("__v").mean().over(series)).clip(0.0, 1.0) * n + 1.0
    ) / (n + 2.0)
    binomial = pl.when(n > 0).then((p * (1.0 - p) / n).sqrt())
    poisson = (pl.col("baseline").clip(0) + 1.0).sqrt()
    noise = pl.when(is_count).then(poisson).otherwise(binomial).fill_null(0.0) * median_noise
    enough = (
        pl.col("baseline").is_not_null()
        & pl.col("__v").is_not_null()
        & (~is_count | (pl.col("baseline") >= min_count_baseline))
    )
    frame = (
        frame.with_columns(pl.when(enough).then(relative).alias("__rel"))
        .with_columns((MAD_SCALE * pl.col("__rel").median().over(series)).alias("__spread"))
        .with_columns(
            ((pl.col("__spread") * pl.col("baseline").abs()) ** 2 + noise**2 + 1e-18).sqrt().alias("scale")
        )
    )
    z = pl.when(enough).then(resid / pl.col("scale"))
    return (
        frame.with_columns(z.alias("z"))
        .with_columns((pl.col("z").abs() > threshold).fill_null(False).alias("anomaly"))
        .drop(pl.selectors.starts_with("__"))
        .sort([*list(keys), "metric", "day"])
    )


def anomalies(scored: pl.DataFrame) -> pl.DataFrame:
    """Only the flagged rows of :func:`seasonal_anomalies`, with a ``direction`` (spike / drop)."""
    return (
        scored.filter(pl.col("anomaly"))
        .with_columns(
            pl.when(pl.col("z") > 0).then(pl.lit("spike")).otherwise(pl.lit("drop")).alias("direction")
        )
        .sort("day")
    )


def campaign_anomalies(
    campaign_kpis: pl.DataFrame,
    *,
    threshold: float = 3.5,
    min_deliveries: int = 100,
    min_expected: float = 20.0,
    metrics: Sequence[tuple[str, str]] = (("open_rate", "unique_opens"), ("ctr", "unique_clicks")),
) -> pl.DataFrame:
    """Campaigns whose rate collapsed against their channel's peers (per-campaign roll-up rows).

    A campaign needs ``min_deliveries`` to be judged. For each (rate, count) pair it is flagged
    when its robust z among same-channel peers is below ``-threshold``, or when its count is
    zero where the peers' median rate predicts at least ``min_expected``.
    """
    judged = campaign_kpis.filter(pl.col("deliveries") >= min_deliveries)
    out = []
    for rate, count in metrics:
        peers = judged.filter(pl.col(rate).is_not_null())
        median = pl.col(rate).median().over("channel")
        mad = (pl.col(rate) - median).abs().median().over("channel")
        scored = peers.select(
            "campaign_id",
            "channel",
            "deliveries",
            pl.lit(rate).alias("metric"),
            pl.col(rate).alias("value"),
            median.alias("peer_median"),
            pl.max_horizontal(MAD_SCALE * mad, 0.05 * median.abs(), pl.lit(1e-9)).alias("scale"),
            pl.col(count).alias("count"),
            pl.len().over("channel").alias("peers"),
        ).with_columns(((pl.col("value") - pl.col("peer_median")) / pl.col("scale")).alias("z"))
        expected = pl.col("deliveries") * pl.col("peer_median")
        flagged = scored.filter(
            (pl.col("peers") >= 3)
            & ((pl.col("z") < -threshold) | ((pl.col("count") == 0) & (expected >= min_expected)))
        ).with_columns(
            pl.when(pl.col("count") == 0)
            .then(pl.lit(f"no {count.removeprefix('unique_')}"))
            .otherwise(pl.lit(f"{rate} far below peers"))
            .alias("reason")
        )
        out.append(flagged.drop("peers"))
    return pl.concat(out).sort("campaign_id", "metric") if out else pl.DataFrame()


def plot_trends(
    scored: pl.DataFrame, metrics: Sequence[str], path: Path, *, title: str = "Daily KPIs"
) -> Path:
    """One PNG: a panel per metric with the daily value, its 7-day average and the anomalies.

    A metric ``scored`` has no rows for is an error: it would be an empty panel in the chart.
    """
    present = set(scored["metric"].unique().to_list()) if scored.height else set()
    missing = [m for m in metrics if m not in present]
    if missing:
        raise ValueError(f"no scored rows for {', '.join(missing)}: the chart would show empty panels")
    plt = pyplot()

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(metrics), 1, figsize=(10, 2.2 * len(metrics)), sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        rows = scored.filter(pl.col("metric") == metric).sort("day")
        days = rows["day"].to_list()
        ax.plot(days, rows["value"].to_list(), lw=0.8, color="#888", label=metric)
        ax.plot(days, rows["ma7"].to_list(), lw=1.6, color="#1f77b4", label="7-day mean")
        if "anomaly" in rows.columns:
            hits = rows.filter(pl.col("anomaly"))
            ax.scatter(
                hits["day"].to_list(), hits["value"].to_list(), color="#d62728", zorder=3, label="anomaly"
            )
        ax.set_ylabel(metric)
        ax.legend(loc="upper left", fontsize=7)
    axes[0, 0].set_title(title)
    fig.autofmt_xdate()
    save_png(fig, path, dpi=90)
    plt.close(fig)
    return path


def date_span(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class TrendReport:
    """Trends and anomalies of a window: the scored series, the flags and the plots written."""

    overall: pl.DataFrame  # trend_table + seasonal scores, no keys
    by_channel: pl.DataFrame  # same, per channel
    anomalies: pl.DataFrame  # flagged days (overall and per channel), with ``scope``
    campaigns: pl.DataFrame  # campaign_anomalies
    plots: list[Path]


def score_days(
    kpis_daily: pl.DataFrame,
    *,
    threshold: float,
    weeks: int = BASELINE_WEEKS,
    min_history: int = MIN_HISTORY,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Score the overall and per-channel daily series: ``(overall, by_channel, flagged)``.

    ``flagged`` has one row per anomalous day, ``scope`` (``overall`` or the channel) and metric
    of :data:`ANOMALY_METRICS`.
    """
    overall = seasonal_anomalies(
        trend_table(daily_series(kpis_daily)),
        threshold=threshold,
        weeks=weeks,
        min_history=min_history,
        metrics=None,
    )
    channel = seasonal_anomalies(
        trend_table(daily_series(kpis_daily, ("channel",)), ("channel",)),
        ("channel",),
        threshold=threshold,
        weeks=weeks,
        min_history=min_history,
    )
    watched = pl.Series(list(ANOMALY_METRICS)).implode()
    flagged = pl.concat(
        [
            anomalies(overall.filter(pl.col("metric").is_in(watched))).with_columns(
                pl.lit("overall").alias("scope")
            ),
            anomalies(channel).rename({"channel": "scope"}),
        ],
        how="diagonal",
    )
    if flagged.height:
        flagged = flagged.select("day", "scope", "metric", "value", "baseline", "z", "direction").sort(
            "day", "scope", "metric"
        )
    return overall, channel, flagged


def trend_report(
    kpis_daily: pl.DataFrame, campaign_kpis: pl.DataFrame, *, threshold: float, out_dir: Path | None
) -> TrendReport:
    """Score the overall and per-channel daily series, check campaigns against peers, plot."""
    overall, channel, flagged = score_days(kpis_daily, threshold=threshold)
    campaigns = (
        campaign_anomalies(campaign_kpis, threshold=threshold) if campaign_kpis.height else pl.DataFrame()
    )
    plots: list[Path] = []
    if out_dir is not None and overall.height:
        plots.append(
            plot_trends(
                overall,
                ["sends", "deliveries", "unique_opens", "conversions", "revenue"],
                out_dir / "kpi_trends.png",
            )
        )
        email = channel.filter(pl.col("channel") == "email")
        if email.height:
            plots.append(
                plot_trends(
                    email,
                    list(ANOMALY_METRICS),  # the metrics the channel series are scored on
                    out_dir / "email_anomalies.png",
                    title="Email: the watched rates and volumes, anomalies in red",
                )
            )
    return TrendReport(overall, channel, flagged, campaigns, plots)


HISTORY_DAYS = 7 * (BASELINE_WEEKS + 2)
"""Days of ``kpis_daily`` read before a window: the same-weekday baseline's weeks (and the 28-day
trailing median and moving average within them), plus two weeks of residuals for the pooled spread."""


def window_trend_report(
    lake: Lake,
    start: date | None,
    end: date | None,
    campaign_kpis: pl.DataFrame,
    *,
    threshold: float,
    out_dir: Path | None,
) -> TrendReport:
    """The :class:`TrendReport` of ``[start, end]``, judged against the history before it.

    ``kpis_daily`` is read from ``HISTORY_DAYS`` before ``start`` (a daily run's two-day window
    alone has no same-weekday history to compare with), but only anomalies of the window's days
    are reported; the plots show the history too.
    """
    history_from = start - timedelta(days=HISTORY_DAYS) if start is not None else None
    daily = lake.scan("kpis_daily", history_from, end).drop("dt").collect()
    report = trend_report(daily, campaign_kpis, threshold=threshold, out_dir=out_dir)
    if start is None or report.anomalies.height == 0:
        return report
    return replace(report, anomalies=report.anomalies.filter(pl.col("day") >= start))
