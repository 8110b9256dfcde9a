"""The daily anomaly detector at its default settings, on fixed generated windows: about one false
flag per metric and scope per quarter at most, none on weekends, and the injected bounce spike
always found. The windows are four of those ``benchmarks/anomaly_false_alarms.py`` measures (its
figures are in docs/ANALYTICS.md); their end days are fixed, so the result is the same any day.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from aicmo.models.base import Base
from aicmo.settings import AnalyticsSettings
from aicmo.storage.db import make_engine
from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.kpis import recompute_daily_kpis
from aicmo.tasks.analytics.trends import ANOMALY_METRICS, Z_THRESHOLD, score_days
from aicmo.tasks.sample import generate_dataset
from tests.fixed_days import Window

WINDOWS = [
    Window(contacts=3000, days=91, seed=1, end=date(2025, 3, 2)),  # a Sunday
    Window(contacts=3000, days=91, seed=2, end=date(2025, 3, 17)),  # a Monday
]
"""Two windows of the benchmark (seeds 1 and 2; end days 0 and 15 days after its first)."""
QUARTER_DAYS = 90


def _daily_kpis(root: Path, w: Window, *, spike: bool) -> tuple[pl.DataFrame, date]:
    engine = make_engine(f"sqlite:///{root / 'store.db'}")
    Base.metadata.create_all(engine)
    lake = Lake(str(root / "lake"))
    summary = generate_dataset(
        engine,
        lake,
        contacts=w.contacts,
        days=w.days,
        seed=w.seed,
        end=w.end,
        assets_dir=root / "assets",
        **({} if spike else {"bounce_multiplier": 1.0}),
    )
    engine.dispose()
    recompute_daily_kpis(lake, lake.partitions("events"), None, w.computed_at())
    return lake.scan("kpis_daily").drop("dt").collect(), summary.truth.anomaly_day


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[bool, pl.DataFrame, date]]:
    """Each window without and with the injected bounce spike: (spiked, daily KPIs, anomaly day)."""
    out = []
    for i, w in enumerate(WINDOWS):
        for spike in (False, True):
            daily, day = _daily_kpis(tmp_path_factory.mktemp(f"w{i}{'s' if spike else 'c'}"), w, spike=spike)
            out.append((spike, daily, day))
    return out


def _score(daily: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(judged days per scope x metric, flagged rows) at the default settings."""
    overall, channel, flagged = score_days(daily, threshold=AnalyticsSettings().anomaly_z_threshold)
    watched = pl.Series(list(ANOMALY_METRICS)).implode()
    judged = (
        pl.concat(
            [
                overall.filter(pl.col("metric").is_in(watched)).with_columns(
                    pl.lit("overall").alias("scope")
                ),
                channel.rename({"channel": "scope"}),
            ],
            how="diagonal",
        )
        .filter(pl.col("z").is_not_null())
        .group_by("scope", "metric")
        .agg(pl.len().alias("judged"))
    )
    return judged, flagged


def test_the_flows_and_the_library_default_to_the_measured_threshold() -> None:
    assert AnalyticsSettings().anomaly_z_threshold == Z_THRESHOLD


def test_false_alarms_stay_under_one_per_metric_and_scope_per_quarter(
    windows: list[tuple[bool, pl.DataFrame, date]],
) -> None:
    judged_parts, flag_parts = [], []
    for spiked, daily, _ in windows:
        if spiked:
            continue
        judged, flagged = _score(daily)
        assert judged.height >= 10  # the series are judged at all: every watched rate on every channel
        judged_parts.append(judged)
        if flagged.height:
            # a quarter-long window: no series raises more than one false alarm in it
            per_series = flagged.group_by("scope", "metric").len()
            assert per_series["len"].max() == 1, per_series
            flag_parts.append(flagged.select("scope", "metric"))
    judged_all = pl.concat(judged_parts).group_by("scope", "metric").agg(pl.col("judged").sum())
    flags = (
        pl.concat(flag_parts)
        if flag_parts
        else pl.DataFrame(schema={"scope": pl.String, "metric": pl.String})
    )
    rates = judged_all.join(
        flags.group_by("scope", "metric").len(), on=["scope", "metric"], how="left"
    ).select(
        "scope", "metric", (QUARTER_DAYS * pl.col("len").fill_null(0) / pl.col("judged")).alias("per_quarter")
    )
    assert rates["per_quarter"].max() <= 1.0, rates.sort("per_quarter", descending=True)


def test_weekends_raise_no_alarm_and_the_bounce_spike_is_always_found(
    windows: list[tuple[bool, pl.DataFrame, date]],
) -> None:
    for spiked, daily, anomaly_day in windows:
        _, flagged = _score(daily)
        assert flagged.filter(pl.col("day").dt.weekday() >= 6).height == 0
        on_day = flagged.filter((pl.col("day") == anomaly_day) & (pl.col("scope") == "email"))
        found = {(r["metric"], r["direction"]) for r in on_day.iter_rows(named=True)}
        if spiked:
            assert {("bounce_rate", "spike"), ("delivery_rate", "drop")} <= found, anomaly_day
        else:
            assert not found  # without the injection the same day is an ordinary day
